// layers/norm/group_norm.cpp: GroupNorm's sets, its reference backward and its module (GroupedNorm,
// which BCN's ChannelNorm shares).
// Equations GN1–GN8: docs/normalization/group_norm.md; D0–D5: docs/normalization/derivation.md.
// The forward and backward run on the family's fused kernels (set_norm.h); this file states S_i,
// the affine, and the backward as labelled steps (group_norm_backward_reference).
#include "layers/norm/group_norm.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"
#include "layers/norm/set_norm.h"

namespace normlab {

namespace {

// The op's name in errors: GroupNorm's, or BCN's channel norm's.
std::string_view op_name(GroupAffine per) {
  return per == GroupAffine::per_channel ? "group_norm" : "channel_norm";
}

}  // namespace

// S_i: same sample, same group (GN paper eq. 7)
SetLayout group_norm_layout(const Shape& s, std::int64_t G) {
  const std::int64_t N = s[0], C = s[1], HW = numel_from(s, 2);
  if (G <= 0 || C % G != 0) {
    throw ShapeError(fmt::format("group_norm: {} channels are not divisible into {} groups (x: {})",
                                 C, G, to_string(s)));
  }
  return {.outer = 1, .sets = N * G, .inner = (C / G) * HW};
}

NormPlan group_norm_plan(const Shape& shape, std::int64_t G, GroupAffine per) {
  const SetLayout groups = group_norm_layout(shape, G);
  if (per == GroupAffine::per_channel) {
    return {.sets = groups, .affine = per_channel_affine(shape, groups)};
  }
  // the parameter of set (n, g) is g: a run of (C/G)·HW values per parameter, G of them per sample
  return {.sets = groups,
          .affine = {.kind = AffineLayout::Kind::per_run,
                     .period = G,
                     .stride = 1,
                     .run = std::max<std::int64_t>(groups.inner, 1),
                     .numel = G}};
}

// forward, eq. GN1–GN4, x (N, C, HW) normalized over the sets (1, N·G, (C/G)·HW) with the
// per-channel affine (per group: eq. BCN3–BCN5, γ_g and β_g):
//   μ_ng = mean over group g of sample n,  rstd_ng = 1/sqrt(σ²_ng + ε),  x̂ = (x − μ_ng)·rstd_ng,
//   y = γ_c·x̂ + β_c
// The fused kernel of set_norm_kernels.h computes it in one parallel sweep over the N·G sets.
Variable group_norm(const Variable& x, std::int64_t num_groups, const Variable& weight,
                    const Variable& bias, double eps, GroupAffine per) {
  const std::string_view op = op_name(per);
  check_rank(op, x.data(), kChannelsFirstRank);
  check_eps(op, eps);
  return set_norm(op, x, group_norm_plan(x.shape(), num_groups, per), weight, bias, eps);
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

// γ's shape (C or G), once G divides C and eps is valid.
Shape checked_grouped_norm_params(std::string_view op, std::int64_t num_groups,
                                  std::int64_t num_channels, GroupAffine per, double eps) {
  check_groups_divide(op, num_channels, num_groups);
  check_eps(op, eps);
  return {per == GroupAffine::per_channel ? num_channels : num_groups};
}

}  // namespace

GroupedNorm::GroupedNorm(std::int64_t num_groups, std::int64_t num_channels, GroupAffine per,
                         const GroupNormOptions& options)
    : AffineNorm(
          checked_grouped_norm_params(op_name(per), num_groups, num_channels, per, options.eps),
          options.dtype, options.affine),
      num_groups_(num_groups),
      num_channels_(num_channels),
      per_(per),
      options_(options) {}

Variable GroupedNorm::normalize(const Variable& x, const Variable& weight, const Variable& bias) {
  check_channels(op_name(per_), x.data(), kChannelsFirstRank, num_channels_);
  return group_norm(x, num_groups_, weight, bias, options_.eps, per_);
}

std::string GroupNorm::extra_repr() const {
  return fmt::format("{}, {}, eps={}, affine={}", num_groups(), num_channels(), options().eps,
                     options().affine ? "True" : "False");
}

}  // namespace normlab
