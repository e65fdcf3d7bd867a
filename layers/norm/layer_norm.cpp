// layers/norm/layer_norm.cpp: LayerNorm's sets, its reference backward and its module.
// Equations LN1–LN8: docs/normalization/layer_norm.md; D0–D5: docs/normalization/derivation.md.
// The forward and backward run on the family's fused kernels (set_norm.h).
#include "layers/norm/layer_norm.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"
#include "layers/norm/set_norm.h"

namespace normlab {

SetLayout layer_norm_layout(std::string_view op, const Shape& x, const Shape& normalized_shape) {
  const auto k = normalized_shape.size();
  const bool fits = x.size() >= k && std::equal(normalized_shape.begin(), normalized_shape.end(),
                                                x.end() - static_cast<std::ptrdiff_t>(k));
  if (!fits || k == 0) {
    throw ShapeError(fmt::format("{}: input does not end with normalized_shape {} (x: {})", op,
                                 to_string(normalized_shape), to_string(x)));
  }
  const std::int64_t D = shape_numel(normalized_shape);
  return {.outer = 1, .sets = D == 0 ? 0 : shape_numel(x) / D, .inner = D};
}

SetLayout feature_layout(SetLayout rows) {
  return {.outer = rows.sets, .sets = rows.inner, .inner = 1};
}

NormPlan layer_norm_plan(std::string_view op, const Shape& x, const Shape& normalized_shape) {
  const SetLayout rows = layer_norm_layout(op, x, normalized_shape);
  return {.sets = rows, .affine = {.kind = AffineLayout::Kind::per_position, .numel = rows.inner}};
}

// forward, eq. LN1–LN4, x seen as (1, S, D): a set per row, the affine elementwise over D:
//   μ_s = (1/D) Σ_d x,  rstd_s = 1/sqrt(σ²_s + ε),  x̂ = (x − μ_s)·rstd_s,  y = γ_d·x̂ + β_d
// One fused sweep per row (set_norm_kernels.h).
Variable layer_norm(const Variable& x, const Shape& normalized_shape, const Variable& weight,
                    const Variable& bias, double eps) {
  constexpr std::string_view kOp = "layer_norm";
  check_defined(kOp, x.data());
  if (!is_floating(x.dtype())) {
    throw_not_floating(kOp, x.dtype());
  }
  check_eps(kOp, eps);
  return set_norm(kOp, x, layer_norm_plan(kOp, x.shape(), normalized_shape), weight, bias, eps);
}

// backward, eq. LN5–LN8, given dy (S, D) and x:
//   step 1  dβ_d = Σ_s dy          dγ_d = Σ_s dy·x̂           (per feature d, eq. LN5, LN6)
//   step 2  g    = γ_d·dy                                   (∂L/∂x̂, eq. LN7)
//   step 3  dx   = rstd_s/D · (D·g − Σ g − x̂·Σ g·x̂) per row  (eq. LN8, which is D4)
NormGrads layer_norm_backward_reference(const Tensor& x, const Tensor& dy,
                                        const Shape& normalized_shape, const Tensor& gamma,
                                        double eps) {
  const SetLayout rows = layer_norm_layout("layer_norm", x.shape(), normalized_shape);
  const SetLayout features = feature_layout(rows);                 // (S, D, 1): a set per d
  const NormalizedInput n = normalize_reference(x, rows, eps);     // eq. LN1–LN3
  NormGrads grads = affine_grads_reference(dy, n.xhat, features);  // step 1
  const Tensor g = scale_reference(dy, gamma, features);           // step 2
  grads.dx = normalize_backward_reference(g, n, rows);             // step 3
  return grads;
}

LayerNorm::LayerNorm(Shape normalized_shape, const LayerNormOptions& options)
    : AffineNorm(checked_normalized_shape("layer_norm", normalized_shape), options.dtype,
                 options.elementwise_affine),
      normalized_shape_(std::move(normalized_shape)),
      options_(options) {
  check_eps("layer_norm", options.eps);
}

Variable LayerNorm::normalize(const Variable& x, const Variable& weight, const Variable& bias) {
  return layer_norm(x, normalized_shape_, weight, bias, options_.eps);
}

std::string LayerNorm::extra_repr() const {
  return fmt::format("{}, eps={}, elementwise_affine={}", python_shape(normalized_shape_),
                     options_.eps, options_.elementwise_affine ? "True" : "False");
}

}  // namespace normlab
