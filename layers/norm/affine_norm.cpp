// layers/norm/affine_norm.cpp: the parameters, buffers and forward pair the norm layers share.
#include "layers/norm/affine_norm.h"

#include <fmt/format.h>

#include "core/error.h"
#include "layers/norm/norm_core.h"

namespace normlab {

AffineNorm::AffineNorm(const Shape& param_shape, DType dtype, bool affine, Beta beta) {
  if (affine) {
    weight_ = Variable(Tensor::ones(param_shape, dtype), true);
    if (beta == Beta::with) {
      bias_ = Variable(Tensor::zeros(param_shape, dtype), true);
    }
  }
  register_parameter("weight", &weight_);
  if (beta == Beta::with) {
    register_parameter("bias", &bias_);
  }
}

Variable AffineNorm::forward(const Variable& x) {
  return normalize(x, weight_, bias_);
}

Tensor AffineNorm::forward_no_grad(const Tensor& x) {
  return normalize(Variable(x), frozen(weight_), frozen(bias_)).data();
}

namespace {

// The parameter shape (C), once the configuration is known to be valid.
Shape checked_channels(const RunningStatsConfig& c) {
  if (c.num_features <= 0) {
    throw ValueError(
        fmt::format("{}: num_features must be positive (num_features: {})", c.op, c.num_features));
  }
  check_eps(c.op, c.eps);
  if (c.momentum && !(*c.momentum >= 0.0 && *c.momentum <= 1.0)) {
    throw ValueError(
        fmt::format("{}: momentum must be in [0, 1] (momentum: {})", c.op, *c.momentum));
  }
  return {c.num_features};
}

}  // namespace

RunningStatsNorm::RunningStatsNorm(const RunningStatsConfig& config)
    : AffineNorm(checked_channels(config), config.dtype, config.affine),
      num_features_(config.num_features) {
  if (config.track_running_stats) {
    init_running_stats(running_mean_, running_var_, &num_batches_tracked_, num_features_,
                       config.dtype);
  }
  register_buffer("running_mean", &running_mean_);
  register_buffer("running_var", &running_var_);
  register_buffer("num_batches_tracked", &num_batches_tracked_);
}

}  // namespace normlab
