// layers/norm/layer_norm.h: Layer Normalization (Ba, Kiros & Hinton 2016, arXiv:1607.06450) over
// the trailing dimensions `normalized_shape` of x (*, normalized_shape), as PyTorch's nn.LayerNorm.
// S_i = every element of one leading index, the layout (1, S, D) with D = ∏ normalized_shape
// (GN paper eq. 4). Affine: elementwise γ_d, β_d of shape normalized_shape (PyTorch's choice).
// docs/normalization/layer_norm.md
#pragma once

#include <cstdint>
#include <string>

#include "layers/norm/affine_norm.h"
#include "layers/norm/norm_core.h"
#include "layers/norm/set_norm_kernels.h"

namespace normlab {

struct LayerNormOptions {
  double eps = 1e-5;
  bool elementwise_affine = true;
  DType dtype = DType::f32;
};

// The statistics layout (1, S, D) for x whose trailing dims equal normalized_shape; ShapeError
// otherwise. op names the caller in the message.
SetLayout layer_norm_layout(std::string_view op, const Shape& x, const Shape& normalized_shape);

// (S, D, 1): a set per feature d, the layout of the elementwise affine's reductions dγ_d, dβ_d.
SetLayout feature_layout(SetLayout rows);

// The rows of layer_norm_layout and the elementwise affine, as the fused kernels take them.
NormPlan layer_norm_plan(std::string_view op, const Shape& x, const Shape& normalized_shape);

// y = γ_d·x̂ + β_d, x̂ normalized over the trailing normalized_shape (eq. LN1–LN4); the node's
// backward is eq. LN5–LN8. weight and bias (normalized_shape) may be undefined.
Variable layer_norm(const Variable& x, const Shape& normalized_shape, const Variable& weight,
                    const Variable& bias, double eps);

// The backward of layer_norm written out step by step (eq. LN5–LN8) with the readable primitives
// of norm_core.h; the tests hold the fused kernels against it.
NormGrads layer_norm_backward_reference(const Tensor& x, const Tensor& dy,
                                        const Shape& normalized_shape, const Tensor& gamma,
                                        double eps);

// γ, β (normalized_shape): AffineNorm.
class LayerNorm final : public AffineNorm {
 public:
  explicit LayerNorm(Shape normalized_shape, const LayerNormOptions& options = {});

  std::string type_name() const override { return "LayerNorm"; }
  std::string extra_repr() const override;

  const Shape& normalized_shape() const noexcept { return normalized_shape_; }
  const LayerNormOptions& options() const noexcept { return options_; }

 private:
  Variable normalize(const Variable& x, const Variable& weight, const Variable& bias) override;

  Shape normalized_shape_;
  LayerNormOptions options_;
};

}  // namespace normlab
