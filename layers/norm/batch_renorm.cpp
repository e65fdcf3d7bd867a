// layers/norm/batch_renorm.cpp: Batch Renormalization's training forward, its reference backward
// and its module, on BatchNorm's sets and the family's fused kernels (set_norm.h).
// Equations BRN1–BRN12: docs/normalization/batch_renorm.md; D0–D5:
// docs/normalization/derivation.md.
#include "layers/norm/batch_renorm.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "layers/norm/set_norm.h"

namespace normlab {

// forward (training), eq. BRN1–BRN6 over S_c = all (n, hw) of channel c:
//   μ_B, σ_B = sqrt(σ²_B + ε)                                      (eq. BRN1, BRN2)
//   r = clip(σ_B/σ, 1/r_max, r_max),  d = clip((μ_B − μ)/σ, ±d_max)  (eq. BRN3, BRN4; constants)
//   z = (x − μ_B)/σ_B,  x̂ = z·r + d,  y = γ_c·x̂ + β_c             (eq. BRN5, BRN6)
// The statistics come first (r and d need them), then BatchNorm's fused normalize with the
// per-channel r, d (set_norm_kernels.h, Renorm).
//
// backward (training), eq. BRN7–BRN10, given dy (N, C, HW) and x:
//   step 1  dβ_c = Σ dy        dγ_c = Σ dy·x̂ = r_c·Σ dy·z + d_c·Σ dy     (eq. BRN7, BRN8)
//   step 2  g    = γ_c·r_c·dy                                (∂L/∂z, r and d constant, eq. BRN9)
//   step 3  dx   = rstd_B/m · (m·g − Σ g − z·Σ g·z)          (through μ_B and σ_B, eq. BRN10 = D4)
NormGrads batch_renorm_backward_reference(const Tensor& x, const Tensor& dy, const Tensor& gamma,
                                          const std::vector<double>& r,
                                          const std::vector<double>& d, double eps) {
  const SetLayout channels = channel_layout(x.shape());
  const NormalizedInput z = normalize_reference(x, channels, eps);  // eq. BRN1, BRN2, BRN5
  NormGrads grads = affine_grads_reference(dy, z.xhat, channels);   // step 1: Σ dy, Σ dy·z
  std::vector<double> dgamma = to_doubles(grads.dgamma), dbeta = to_doubles(grads.dbeta);
  std::vector<double> gamma_r(r.size());
  for (std::size_t c = 0; c < r.size(); ++c) {
    dgamma[c] = r[c] * dgamma[c] + d[c] * dbeta[c];
    gamma_r[c] = (gamma.defined() ? gamma.get({static_cast<std::int64_t>(c)}) : 1.0) * r[c];
  }
  grads.dgamma = to_tensor(dgamma, x.dtype());
  const Tensor g = scale_reference(dy, to_tensor(gamma_r, x.dtype()), channels);  // step 2
  grads.dx = normalize_backward_reference(g, z, channels);                        // step 3
  return grads;
}

namespace {

void check_limits(double r_max, double d_max) {
  if (!(r_max >= 1.0) || !(d_max >= 0.0) || !std::isfinite(r_max) || !std::isfinite(d_max)) {
    throw ValueError(fmt::format(
        "batch_renorm: need r_max >= 1 and d_max >= 0 (r_max: {}, d_max: {})", r_max, d_max));
  }
}

// γ's shape (C), once every option is valid.
Shape checked_batch_renorm_params(std::int64_t num_features, const BatchRenormOptions& options) {
  if (num_features <= 0) {
    throw ValueError(fmt::format("batch_renorm: num_features must be positive (num_features: {})",
                                 num_features));
  }
  check_eps("batch_renorm", options.eps);
  check_limits(options.r_max, options.d_max);
  if (!(options.momentum >= 0.0 && options.momentum <= 1.0)) {
    throw ValueError(
        fmt::format("batch_renorm: momentum must be in [0, 1] (momentum: {})", options.momentum));
  }
  return {num_features};
}

}  // namespace

Variable batch_renorm_train(const Variable& x, const Variable& weight, const Variable& bias,
                            const Tensor& running_mean, const Tensor& running_std, double r_max,
                            double d_max, double eps, RenormStats* stats) {
  constexpr std::string_view kOp = "batch_renorm";
  check_rank(kOp, x.data(), kBatchNormRank);
  check_eps(kOp, eps);
  check_limits(r_max, d_max);
  const NormPlan plan = batch_norm_plan(x.shape());
  const std::int64_t C = plan.sets.sets;
  if (plan.sets.m() <= 1) {
    throw ValueError(fmt::format("{}: expected more than 1 value per channel when training (x: {})",
                                 kOp, to_string(x.shape())));
  }
  if (running_mean.numel() != C || running_std.numel() != C) {
    throw ShapeError(
        fmt::format("{}: running statistics do not match the {} channels ({}, {}, x: {})", kOp, C,
                    describe("running_mean", running_mean), describe("running_std", running_std),
                    to_string(x.shape())));
  }
  const std::vector<double> mu_run = to_doubles(running_mean), sigma_run = to_doubles(running_std);
  // steps 1-3 in one sweep of x per channel (set_norm_kernels.h, StatsRule::renorm): μ_B and σ²_B;
  // σ_B = sqrt(σ²_B + ε), r = clip(σ_B/σ, 1/r_max, r_max), d = clip((μ_B − μ)/σ, −d_max, d_max);
  // y = γ·(z·r + d) + β, and the node of eq. BRN7–BRN10
  SetStats batch;
  RuleOutputs factors;
  Variable y = set_norm_with_rule(kOp, x, plan,
                                  {.kind = StatsRule::Kind::renorm,
                                   .running_mean = mu_run.data(),
                                   .running_scale = sigma_run.data(),
                                   .r_max = r_max,
                                   .d_max = d_max},
                                  weight, bias, eps, &batch, &factors);
  if (stats != nullptr) {
    std::vector<double> sigma(batch.var.size());
    for (std::size_t c = 0; c < sigma.size(); ++c) {
      sigma[c] = std::sqrt(batch.var[c] + eps);
    }
    *stats = {batch.mean, std::move(sigma), std::move(factors.r), std::move(factors.d)};
  }
  return y;
}

BatchRenorm::BatchRenorm(std::int64_t num_features, const BatchRenormOptions& options)
    : AffineNorm(checked_batch_renorm_params(num_features, options), options.dtype, options.affine),
      num_features_(num_features),
      options_(options) {
  init_running_stats(running_mean_, running_std_, &num_batches_tracked_, num_features,
                     options.dtype);
  register_buffer("running_mean", &running_mean_);
  register_buffer("running_std", &running_std_);
  register_buffer("num_batches_tracked", &num_batches_tracked_);
}

void BatchRenorm::set_limits(double r_max, double d_max) {
  check_limits(r_max, d_max);
  options_.r_max = r_max;
  options_.d_max = d_max;
}

Variable BatchRenorm::normalize(const Variable& x, const Variable& weight, const Variable& bias) {
  check_channels("batch_renorm", x.data(), kBatchNormRank, num_features_);
  if (!is_training()) {
    // eq. BRN12: inference normalizes with the moving averages, x̂ = (x − μ)/σ.
    std::vector<double> rstd = to_doubles(running_std_);
    for (double& v : rstd) {
      v = 1.0 / v;
    }
    return batch_norm_with_constants(x, to_doubles(running_mean_), std::move(rstd), weight, bias);
  }
  RenormStats stats;
  Variable y = batch_renorm_train(x, weight, bias, running_mean_, running_std_, options_.r_max,
                                  options_.d_max, options_.eps, &stats);
  // eq. BRN11: μ ← μ + α(μ_B − μ),  σ ← σ + α(σ_B − σ)
  blend_(running_mean_, stats.mean, options_.momentum);
  blend_(running_std_, stats.std, options_.momentum);
  num_batches_tracked_.set({}, num_batches_tracked_.item() + 1.0);
  return y;
}

std::string BatchRenorm::extra_repr() const {
  return fmt::format("{}, eps={}, momentum={}, r_max={}, d_max={}, affine={}", num_features_,
                     options_.eps, options_.momentum, options_.r_max, options_.d_max,
                     options_.affine ? "True" : "False");
}

}  // namespace normlab
