// layers/norm/batch_norm.cpp: BatchNorm's sets, its training and evaluation forwards, its
// reference backward and its module. Equations BN1–BN11: docs/normalization/batch_norm.md; D0–D5:
// docs/normalization/derivation.md. Both modes run on the family's fused kernels (set_norm.h).
#include "layers/norm/batch_norm.h"

#include <fmt/format.h>

#include "core/error.h"
#include "layers/norm/set_norm.h"

namespace normlab {

NormPlan batch_norm_plan(const Shape& shape) {
  const SetLayout channels = channel_layout(shape);
  return {.sets = channels, .affine = per_channel_affine(shape, channels)};
}

// ---- training: batch statistics ----

// forward, eq. BN1–BN4 over S_c = all (n, hw) of channel c:
//   μ_c = (1/m) Σ x,   σ²_c = (1/m) Σ (x − μ_c)²,   x̂ = (x − μ_c)·rstd_c,   y = γ_c·x̂ + β_c
// One fused sweep per channel (set_norm_kernels.h); the node's backward is eq. BN5–BN8.
Variable batch_norm_train(const Variable& x, const Variable& weight, const Variable& bias,
                          double eps, BatchStats* stats) {
  constexpr std::string_view kOp = "batch_norm";
  check_rank(kOp, x.data(), kBatchNormRank);
  check_eps(kOp, eps);
  const NormPlan plan = batch_norm_plan(x.shape());
  if (plan.sets.m() <= 1) {
    throw ValueError(fmt::format("{}: expected more than 1 value per channel when training (x: {})",
                                 kOp, to_string(x.shape())));
  }
  return set_norm(kOp, x, plan, weight, bias, eps, stats);
}

// backward, eq. BN5–BN8, given dy (N, C, HW) and x:
//   step 1  dβ_c = Σ_{n,hw} dy          dγ_c = Σ_{n,hw} dy·x̂          (eq. BN5, BN6)
//   step 2  g    = γ_c·dy                                            (∂L/∂x̂, eq. BN7)
//   step 3  dx   = rstd_c/m · (m·g − Σ g − x̂·Σ g·x̂)                 (eq. BN8, which is D4)
NormGrads batch_norm_backward_reference(const Tensor& x, const Tensor& dy, const Tensor& gamma,
                                        double eps) {
  const SetLayout channels = channel_layout(x.shape());
  const NormalizedInput n = normalize_reference(x, channels, eps);  // eq. BN1–BN3
  NormGrads grads = affine_grads_reference(dy, n.xhat, channels);   // step 1
  const Tensor g = scale_reference(dy, gamma, channels);            // step 2
  grads.dx = normalize_backward_reference(g, n, channels);          // step 3
  return grads;
}

// ---- evaluation: running statistics are constants ----

// forward, eq. BN9:  x̂ = (x − μ_run_c)·rstd_run_c,  y = γ_c·x̂ + β_c,  rstd_run = 1/sqrt(σ²_run + ε)
// backward, eq. BN10: μ_run and rstd_run do not depend on x, so
//   step 1  dβ_c = Σ dy,  dγ_c = Σ dy·x̂
//   step 2  dx   = γ_c·rstd_run_c·dy
Variable batch_norm_with_constants(const Variable& x, const std::vector<double>& mean,
                                   std::vector<double> rstd, const Variable& weight,
                                   const Variable& bias) {
  constexpr std::string_view kOp = "batch_norm_eval";
  check_rank(kOp, x.data(), kBatchNormRank);
  return set_norm_with_stats(
      kOp, x, batch_norm_plan(x.shape()),
      {.mean = mean, .rstd = std::move(rstd), .constant = true, .renorm = {}}, weight, bias);
}

Variable batch_norm_eval(const Variable& x, const Tensor& running_mean, const Tensor& running_var,
                         const Variable& weight, const Variable& bias, double eps) {
  constexpr std::string_view kOp = "batch_norm_eval";
  check_rank(kOp, x.data(), kBatchNormRank);
  check_eps(kOp, eps);
  const std::int64_t C = x.data().dim(1);
  if (running_mean.numel() != C || running_var.numel() != C) {
    throw ShapeError(
        fmt::format("{}: running statistics do not match the {} channels ({}, {}, x: {})", kOp, C,
                    describe("running_mean", running_mean), describe("running_var", running_var),
                    to_string(x.shape())));
  }
  return batch_norm_with_constants(x, to_doubles(running_mean),
                                   rstd_from_var(to_doubles(running_var), eps), weight, bias);
}

void update_running_stats(Tensor& running_mean, Tensor& running_var, const BatchStats& stats,
                          double factor) {
  const double bessel = static_cast<double>(stats.m) / static_cast<double>(stats.m - 1);
  std::vector<double> unbiased(stats.var.size());
  for (std::size_t c = 0; c < unbiased.size(); ++c) {
    unbiased[c] = stats.var[c] * bessel;  // eq. BN11
  }
  blend_(running_mean, stats.mean, factor);
  blend_(running_var, unbiased, factor);
}

BatchNorm::BatchNorm(std::int64_t num_features, const BatchNormOptions& options)
    : RunningStatsNorm(running_stats_config("batch_norm", num_features, options)),
      options_(options) {}

Variable batch_norm_by_mode(RunningStatsNorm& layer, const BatchNormOptions& options,
                            const Variable& x, const Variable& weight, const Variable& bias,
                            const std::function<Variable(BatchStats*)>& train_forward) {
  if (layer.is_training() || !options.track_running_stats) {
    BatchStats stats;
    Variable y = train_forward(&stats);
    if (layer.is_training() && options.track_running_stats) {
      Tensor& count = layer.num_batches_tracked();
      const std::int64_t tracked = static_cast<std::int64_t>(count.item()) + 1;
      count.set({}, static_cast<double>(tracked));
      const double factor =
          options.momentum ? *options.momentum : 1.0 / static_cast<double>(tracked);
      update_running_stats(layer.running_mean(), layer.running_var(), stats, factor);
    }
    return y;
  }
  return batch_norm_eval(x, layer.running_mean(), layer.running_var(), weight, bias, options.eps);
}

Variable BatchNorm::normalize(const Variable& x, const Variable& weight, const Variable& bias) {
  check_channels("batch_norm", x.data(), kBatchNormRank, num_features());
  return batch_norm_by_mode(*this, options_, x, weight, bias, [&](BatchStats* stats) {
    return batch_norm_train(x, weight, bias, options_.eps, stats);
  });
}

std::string BatchNorm::extra_repr() const {
  const std::string momentum =
      options_.momentum ? fmt::format("{}", *options_.momentum) : std::string("None");
  return fmt::format("{}, eps={}, momentum={}, affine={}, track_running_stats={}", num_features(),
                     options_.eps, momentum, options_.affine ? "True" : "False",
                     options_.track_running_stats ? "True" : "False");
}

}  // namespace normlab
