// layers/norm/instance_norm.cpp: InstanceNorm2d's sets, its reference backward and its module.
// Equations IN1–IN9: docs/normalization/instance_norm.md; D0–D5: docs/normalization/derivation.md.
// The forward and backward run on the family's fused kernels (set_norm.h).
#include "layers/norm/instance_norm.h"

#include <fmt/format.h>

#include "core/error.h"
#include "layers/norm/set_norm.h"

namespace normlab {

namespace {
// S_i: same sample, same channel (GN paper eq. 5)
SetLayout instance_layout(const Shape& s) {
  return {.outer = 1, .sets = s[0] * s[1], .inner = numel_from(s, 2)};
}
}  // namespace

// forward, eq. IN1–IN4, x (N, C, HW) normalized over the sets (1, N·C, HW) with the per-channel
// affine:
//   μ_nc = (1/HW) Σ_hw x,  rstd_nc = 1/sqrt(σ²_nc + ε),  x̂ = (x − μ_nc)·rstd_nc,  y = γ_c·x̂ + β_c
// One fused sweep per (sample, channel) (set_norm_kernels.h).
//
// backward, eq. IN5–IN8, given dy (N, C, HW) and x:
//   step 1  dβ_c = Σ_{n,hw} dy          dγ_c = Σ_{n,hw} dy·x̂          (per channel, eq. IN5, IN6)
//   step 2  g    = γ_c·dy                                            (∂L/∂x̂, eq. IN7)
//   step 3  dx   = rstd_nc/HW · (HW·g − Σ g − x̂·Σ g·x̂) per instance  (eq. IN8, which is D4)
NormGrads instance_norm_backward_reference(const Tensor& x, const Tensor& dy, const Tensor& gamma,
                                           double eps) {
  const SetLayout instances = instance_layout(x.shape()), channels = channel_layout(x.shape());
  const NormalizedInput n = normalize_reference(x, instances, eps);  // eq. IN1–IN3
  NormGrads grads = affine_grads_reference(dy, n.xhat, channels);    // step 1
  const Tensor g = scale_reference(dy, gamma, channels);             // step 2
  grads.dx = normalize_backward_reference(g, n, instances);          // step 3
  return grads;
}

namespace {

// eq. IN9: the running statistics take the batch average of the instance statistics.
BatchStats average_over_batch(const std::vector<double>& mean, const std::vector<double>& var,
                              std::int64_t N, std::int64_t C, std::int64_t HW) {
  BatchStats stats{std::vector<double>(static_cast<std::size_t>(C), 0.0),
                   std::vector<double>(static_cast<std::size_t>(C), 0.0), HW};
  for (std::int64_t n = 0; n < N; ++n) {
    for (std::int64_t c = 0; c < C; ++c) {
      const auto nc = static_cast<std::size_t>(n * C + c), cc = static_cast<std::size_t>(c);
      stats.mean[cc] += mean[nc] / static_cast<double>(N);
      stats.var[cc] += var[nc] / static_cast<double>(N);
    }
  }
  return stats;
}

}  // namespace

Variable instance_norm(const Variable& x, const Variable& weight, const Variable& bias, double eps,
                       BatchStats* stats) {
  constexpr std::string_view kOp = "instance_norm";
  check_rank(kOp, x.data(), kImageRank);
  check_eps(kOp, eps);
  const SetLayout instances = instance_layout(x.shape());
  if (instances.inner <= 1) {
    throw ValueError(fmt::format("{}: expected more than 1 spatial element when training (x: {})",
                                 kOp, to_string(x.shape())));
  }
  SetStats instance_stats;
  Variable y =
      set_norm(kOp, x, {.sets = instances, .affine = per_channel_affine(x.shape(), instances)},
               weight, bias, eps, &instance_stats);
  if (stats != nullptr) {
    const Shape& s = x.shape();
    *stats =
        average_over_batch(instance_stats.mean, instance_stats.var, s[0], s[1], instances.inner);
  }
  return y;
}

InstanceNorm2d::InstanceNorm2d(std::int64_t num_features, const InstanceNormOptions& options)
    : RunningStatsNorm(running_stats_config("instance_norm", num_features, options)),
      options_(options) {}

Variable InstanceNorm2d::normalize(const Variable& x, const Variable& weight,
                                   const Variable& bias) {
  check_channels("instance_norm", x.data(), kImageRank, num_features());
  // PyTorch: instance statistics in training, and always when no running statistics are kept.
  if (is_training() || !options_.track_running_stats) {
    BatchStats stats;
    Variable y = instance_norm(x, weight, bias, options_.eps, &stats);
    if (is_training() && options_.track_running_stats) {
      update_running_stats(running_mean(), running_var(), stats, options_.momentum);
    }
    return y;
  }
  return batch_norm_eval(x, running_mean(), running_var(), weight, bias, options_.eps);
}

std::string InstanceNorm2d::extra_repr() const {
  return fmt::format("{}, eps={}, momentum={}, affine={}, track_running_stats={}", num_features(),
                     options_.eps, options_.momentum, options_.affine ? "True" : "False",
                     options_.track_running_stats ? "True" : "False");
}

}  // namespace normlab
