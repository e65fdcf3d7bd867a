// layers/norm/batch_norm.h: Batch Normalization (Ioffe & Szegedy 2015, arXiv:1502.03167) for
// x of shape (N, C), (N, C, L) or (N, C, H, W) (up to 5-D), PyTorch's BatchNorm1d/2d/3d in one
// class. S_i = {k : k_C = i_C}, the layout (N, C, H·W) (GN paper eq. 3). Affine: per channel γ_c,
// β_c. Training normalizes with the biased batch variance and updates running_var with the unbiased
// one; evaluation uses the running statistics, with its own backward.
// docs/normalization/batch_norm.md
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "layers/norm/affine_norm.h"
#include "layers/norm/set_norm.h"

namespace normlab {

struct BatchNormOptions {
  double eps = 1e-5;
  // Weight of the new batch in the running averages; nullopt: the cumulative average
  // (factor 1/num_batches_tracked), as PyTorch's momentum=None.
  std::optional<double> momentum = 0.1;
  bool affine = true;
  bool track_running_stats = true;
  DType dtype = DType::f32;
};

// The batch statistics of one training forward, per channel: μ_B, σ²_B (biased) and m = N·H·W.
using BatchStats = SetStats;

// The sets of eq. 3 (one per channel) and the per-channel affine, as the fused kernels take them.
NormPlan batch_norm_plan(const Shape& shape);

// Training mode (eq. BN1–BN4): normalizes with the batch statistics and records a node whose
// backward is eq. BN5–BN8. weight and bias (C) may be undefined (no affine). When stats is not
// null it receives μ_B and σ²_B. ValueError when a channel has a single value (m = 1).
Variable batch_norm_train(const Variable& x, const Variable& weight, const Variable& bias,
                          double eps, BatchStats* stats = nullptr);

// Evaluation mode (eq. BN9): normalizes with the given running statistics, which are constants,
// so the backward is eq. BN10: dx = γ_c·rstd_run_c·dy.
Variable batch_norm_eval(const Variable& x, const Tensor& running_mean, const Tensor& running_var,
                         const Variable& weight, const Variable& bias, double eps);

// eq. BN9 and BN10 with the per-channel constants given directly: x̂ = (x − mean_c)·rstd_c,
// y = γ_c·x̂ + β_c, dx = γ_c·rstd_c·dy. Batch Renormalization's and the estimated batch norm's
// evaluation use it. mean, rstd: (C)
Variable batch_norm_with_constants(const Variable& x, const std::vector<double>& mean,
                                   std::vector<double> rstd, const Variable& weight,
                                   const Variable& bias);

// The training backward written out step by step (eq. BN5–BN8) with the readable primitives of
// norm_core.h; the tests hold the fused kernels against it.
NormGrads batch_norm_backward_reference(const Tensor& x, const Tensor& dy, const Tensor& gamma,
                                        double eps);

// running ← (1 − f)·running + f·batch with f = momentum, or 1/num_batches_tracked without one;
// running_var takes the unbiased σ²_B·m/(m − 1) (eq. BN11). Shared with InstanceNorm2d.
void update_running_stats(Tensor& running_mean, Tensor& running_var, const BatchStats& stats,
                          double factor);

// BatchNorm's modes, shared with SyncBatchNorm: the batch statistics of train_forward(&stats) in
// training, and whenever no running statistics are kept (PyTorch), with the running statistics
// then moved toward them in training (eq. BN11); the running statistics otherwise (eq. BN9).
Variable batch_norm_by_mode(RunningStatsNorm& layer, const BatchNormOptions& options,
                            const Variable& x, const Variable& weight, const Variable& bias,
                            const std::function<Variable(BatchStats*)>& train_forward);

// γ, β (C), running_mean, running_var (C) and num_batches_tracked: RunningStatsNorm.
class BatchNorm final : public RunningStatsNorm {
 public:
  explicit BatchNorm(std::int64_t num_features, const BatchNormOptions& options = {});

  std::string type_name() const override { return "BatchNorm"; }
  std::string extra_repr() const override;

  const BatchNormOptions& options() const noexcept { return options_; }

 private:
  Variable normalize(const Variable& x, const Variable& weight, const Variable& bias) override;

  BatchNormOptions options_;
};

}  // namespace normlab
