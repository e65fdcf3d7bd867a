// layers/norm/group_norm.cpp: GroupNorm's sets, its reference backward and its module.
// Equations GN1–GN8: docs/normalization/group_norm.md; D0–D5: docs/normalization/derivation.md.
// The forward and backward run on the family's fused kernels (set_norm.h); this file states S_i,
// the affine, and the backward as labelled steps (group_norm_backward_reference).
#include "layers/norm/group_norm.h"

#include <fmt/format.h>

#include "core/error.h"
#include "layers/norm/set_norm.h"

namespace normlab {

// S_i: same sample, same group (GN paper eq. 7)
SetLayout group_norm_layout(const Shape& s, std::int64_t G) {
  const std::int64_t N = s[0], C = s[1], HW = numel_from(s, 2);
  if (G <= 0 || C % G != 0) {
    throw ShapeError(fmt::format("group_norm: {} channels are not divisible into {} groups (x: {})",
                                 C, G, to_string(s)));
  }
  return {.outer = 1, .sets = N * G, .inner = (C / G) * HW};
}

NormPlan group_norm_plan(const Shape& shape, std::int64_t G) {
  const SetLayout groups = group_norm_layout(shape, G);
  return {.sets = groups, .affine = per_channel_affine(shape, groups)};
}

// forward, eq. GN1–GN4, x (N, C, HW) normalized over the sets (1, N·G, (C/G)·HW) with the
// per-channel affine:
//   μ_ng = mean over group g of sample n,  rstd_ng = 1/sqrt(σ²_ng + ε),  x̂ = (x − μ_ng)·rstd_ng,
//   y = γ_c·x̂ + β_c
// The fused kernel of set_norm_kernels.h computes it in one parallel sweep over the N·G sets.
Variable group_norm(const Variable& x, std::int64_t num_groups, const Variable& weight,
                    const Variable& bias, double eps) {
  constexpr std::string_view kOp = "group_norm";
  check_rank(kOp, x.data(), kChannelsFirstRank);
  check_eps(kOp, eps);
  return set_norm(kOp, x, group_norm_plan(x.shape(), num_groups), weight, bias, eps);
}

// backward, eq. GN5–GN8, given dy (N, C, HW) and x:
//   step 1  dβ_c = Σ_{n,hw} dy          dγ_c = Σ_{n,hw} dy·x̂      (per channel, eq. GN5, GN6)
//   step 2  g    = γ_c·dy                                        (∂L/∂x̂, eq. GN7)
//   step 3  dx   = rstd_ng/m·(m·g − Σ g − x̂·Σ g·x̂) over each group  (eq. GN8, which is D4)
NormGrads group_norm_backward_reference(const Tensor& x, const Tensor& dy, std::int64_t G,
                                        const Tensor& gamma, double eps) {
  const SetLayout groups = group_norm_layout(x.shape(), G), channels = channel_layout(x.shape());
  const NormalizedInput n = normalize_reference(x, groups, eps);   // eq. GN1–GN3
  NormGrads grads = affine_grads_reference(dy, n.xhat, channels);  // step 1
  const Tensor g = scale_reference(dy, gamma, channels);           // step 2
  grads.dx = normalize_backward_reference(g, n, groups);           // step 3
  return grads;
}

namespace {

// γ's shape (C), once G divides C and eps is valid.
Shape checked_group_norm_params(std::int64_t num_groups, std::int64_t num_channels, double eps) {
  check_groups_divide("group_norm", num_channels, num_groups);
  check_eps("group_norm", eps);
  return {num_channels};
}

}  // namespace

GroupNorm::GroupNorm(std::int64_t num_groups, std::int64_t num_channels,
                     const GroupNormOptions& options)
    : AffineNorm(checked_group_norm_params(num_groups, num_channels, options.eps), options.dtype,
                 options.affine),
      num_groups_(num_groups),
      num_channels_(num_channels),
      options_(options) {}

Variable GroupNorm::normalize(const Variable& x, const Variable& weight, const Variable& bias) {
  check_channels("group_norm", x.data(), kChannelsFirstRank, num_channels_);
  return group_norm(x, num_groups_, weight, bias, options_.eps);
}

std::string GroupNorm::extra_repr() const {
  return fmt::format("{}, {}, eps={}, affine={}", num_groups_, num_channels_, options_.eps,
                     options_.affine ? "True" : "False");
}

}  // namespace normlab
