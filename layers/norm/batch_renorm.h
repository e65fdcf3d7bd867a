// layers/norm/batch_renorm.h: Batch Renormalization (Ioffe 2017, arXiv:1702.03275) for x (N, C, *).
// S_i as BatchNorm (N, C, H·W); affine per channel. Training corrects the batch-normalized value
// with r = σ_B/σ and d = (μ_B − μ)/σ, clipped to [1/r_max, r_max] and [−d_max, d_max] and held
// constant in backward (stop-gradient), as in the paper (Algorithm 1). The running statistics are
// moving averages of μ and σ (not σ²), as in the paper. docs/normalization/batch_renorm.md
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layers/norm/affine_norm.h"
#include "layers/norm/batch_norm.h"

namespace normlab {

struct BatchRenormOptions {
  double eps = 1e-5;
  double momentum = 0.1;  // the paper's update rate α for μ and σ (a hyperparameter there)
  double r_max = 3.0;  // the paper's final values after its ramp-up (r_max 1 → 3, d_max 0 → 5)
  double d_max = 5.0;
  bool affine = true;
  DType dtype = DType::f32;
};

// What one training forward used, per channel: μ_B, σ_B = sqrt(σ²_B + ε), r and d.
struct RenormStats {
  std::vector<double> mean, std, r, d;
};

// Training (eq. BRN1–BRN6) with the running μ and σ (C) as the reference; the node's backward is
// eq. BRN7–BRN10 with r and d constant. weight and bias (C) may be undefined.
Variable batch_renorm_train(const Variable& x, const Variable& weight, const Variable& bias,
                            const Tensor& running_mean, const Tensor& running_std, double r_max,
                            double d_max, double eps, RenormStats* stats = nullptr);

// The training backward written out step by step (eq. BRN7–BRN10) with the readable primitives of
// norm_core.h, given the forward's r and d (C); the tests hold the fused kernels against it.
NormGrads batch_renorm_backward_reference(const Tensor& x, const Tensor& dy, const Tensor& gamma,
                                          const std::vector<double>& r,
                                          const std::vector<double>& d, double eps);

// γ, β (C): AffineNorm.
class BatchRenorm final : public AffineNorm {
 public:
  explicit BatchRenorm(std::int64_t num_features, const BatchRenormOptions& options = {});

  std::string type_name() const override { return "BatchRenorm"; }
  std::string extra_repr() const override;

  // The paper ramps r_max and d_max up during training; a schedule sets them between steps.
  void set_limits(double r_max, double d_max);

  std::int64_t num_features() const noexcept { return num_features_; }
  const BatchRenormOptions& options() const noexcept { return options_; }
  Tensor& running_mean() noexcept { return running_mean_; }  // μ (C)
  Tensor& running_std() noexcept { return running_std_; }    // σ (C), includes ε
  Tensor& num_batches_tracked() noexcept { return num_batches_tracked_; }

 private:
  Variable normalize(const Variable& x, const Variable& weight, const Variable& bias) override;

  std::int64_t num_features_;
  BatchRenormOptions options_;
  Tensor running_mean_, running_std_, num_batches_tracked_;
};

}  // namespace normlab
