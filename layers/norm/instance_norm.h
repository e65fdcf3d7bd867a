// layers/norm/instance_norm.h: Instance Normalization (Ulyanov, Vedaldi & Lempitsky 2016,
// arXiv:1607.08022) for x (N, C, H, W), as PyTorch's nn.InstanceNorm2d (batched input only).
// S_i = {k : k_N = i_N, k_C = i_C}, the layout (1, N·C, H·W) (GN paper eq. 5). Affine: per channel
// γ_c, β_c. PyTorch's defaults: affine and track_running_stats off. With running statistics, eval
// mode is BatchNorm's eval (eq. BN9, BN10). docs/normalization/instance_norm.md
#pragma once

#include <cstdint>
#include <string>

#include "layers/norm/affine_norm.h"
#include "layers/norm/batch_norm.h"
#include "layers/norm/norm_core.h"

namespace normlab {

struct InstanceNormOptions {
  double eps = 1e-5;
  double momentum = 0.1;
  bool affine = false;
  bool track_running_stats = false;
  DType dtype = DType::f32;
};

// y = γ_c·x̂ + β_c with x̂ normalized over each (sample, channel) (eq. IN1–IN4); the node's backward
// is eq. IN5–IN8. weight and bias (C) may be undefined. When stats is not null it receives the
// per-channel average over the batch of the instance means and biased variances, and m = H·W.
// ValueError when H·W = 1 (PyTorch: "Expected more than 1 spatial element when training").
Variable instance_norm(const Variable& x, const Variable& weight, const Variable& bias, double eps,
                       BatchStats* stats = nullptr);

// The backward of instance_norm written out step by step (eq. IN5–IN8) with the readable
// primitives of norm_core.h; the tests hold the fused kernels against it.
NormGrads instance_norm_backward_reference(const Tensor& x, const Tensor& dy, const Tensor& gamma,
                                           double eps);

// γ, β (C), running_mean, running_var (C) and num_batches_tracked: RunningStatsNorm. The latter is
// kept for PyTorch state_dict parity; InstanceNorm never increments it, as in PyTorch.
class InstanceNorm2d final : public RunningStatsNorm {
 public:
  explicit InstanceNorm2d(std::int64_t num_features, const InstanceNormOptions& options = {});

  std::string type_name() const override { return "InstanceNorm2d"; }
  std::string extra_repr() const override;

  const InstanceNormOptions& options() const noexcept { return options_; }

 private:
  Variable normalize(const Variable& x, const Variable& weight, const Variable& bias) override;

  InstanceNormOptions options_;
};

}  // namespace normlab
