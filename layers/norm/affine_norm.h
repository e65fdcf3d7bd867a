// layers/norm/affine_norm.h: the Module side that the normalization layers share, written once.
// AffineNorm holds γ ("weight", ones) and β ("bias", zeros) in the layer's parameter shape under
// PyTorch's names; forward and forward_no_grad both call the layer's normalize(x, γ, β), the latter
// with γ and β frozen so that nothing is recorded. RunningStatsNorm adds the per-channel running
// statistics of BatchNorm and InstanceNorm2d. Each layer keeps its own math in normalize().
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "layers/module.h"

namespace normlab {

class AffineNorm : public Module {
 public:
  Variable forward(const Variable& x) final;
  Tensor forward_no_grad(const Tensor& x) final;

  Variable& weight() noexcept { return weight_; }  // γ; undefined without an affine
  Variable& bias() noexcept { return bias_; }      // β; undefined without an affine or a β

 protected:
  enum class Beta : std::uint8_t { with, without };  // RMSNorm has no β

  // With `affine`, γ = 1 and β = 0 of param_shape; otherwise both stay undefined.
  AffineNorm(const Shape& param_shape, DType dtype, bool affine, Beta beta = Beta::with);

  // The layer's forward with the given γ and β (undefined without an affine).
  virtual Variable normalize(const Variable& x, const Variable& weight, const Variable& bias) = 0;

 private:
  Variable weight_, bias_;
};

// What BatchNorm and InstanceNorm2d have in common at construction.
struct RunningStatsConfig {
  std::string_view op;             // "batch_norm", names the layer in errors
  std::int64_t num_features = 0;   // C
  double eps = 1e-5;               // checked only
  std::optional<double> momentum;  // checked only; nullopt: the cumulative average
  bool affine = true;
  bool track_running_stats = true;
  DType dtype = DType::f32;
};

// The configuration of BatchNormOptions or InstanceNormOptions (whose momentum is a double).
template <class Options>
RunningStatsConfig running_stats_config(std::string_view op, std::int64_t num_features,
                                        const Options& options) {
  return {.op = op,
          .num_features = num_features,
          .eps = options.eps,
          .momentum = options.momentum,
          .affine = options.affine,
          .track_running_stats = options.track_running_stats,
          .dtype = options.dtype};
}

// γ, β (C) and, when tracked, the buffers running_mean (zeros), running_var (ones, unbiased) of
// (C) and num_batches_tracked (an int64 scalar). ValueError unless num_features > 0, eps > 0 and
// the momentum, when given, lies in [0, 1].
class RunningStatsNorm : public AffineNorm {
 public:
  std::int64_t num_features() const noexcept { return num_features_; }
  Tensor& running_mean() noexcept { return running_mean_; }  // (C); undefined without tracking
  Tensor& running_var() noexcept { return running_var_; }    // (C), unbiased
  Tensor& num_batches_tracked() noexcept { return num_batches_tracked_; }  // int64 scalar

 protected:
  explicit RunningStatsNorm(const RunningStatsConfig& config);

 private:
  std::int64_t num_features_;
  Tensor running_mean_, running_var_, num_batches_tracked_;
};

}  // namespace normlab
