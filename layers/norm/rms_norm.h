// layers/norm/rms_norm.h: Root Mean Square Layer Normalization (Zhang & Sennrich 2019,
// arXiv:1910.07467) over the trailing `normalized_shape`, as PyTorch's nn.RMSNorm (2.4+):
// y = γ_d · x / sqrt(mean(x²) + ε), no mean subtraction and no bias. eps unset means the
// machine epsilon of the input's dtype, as in PyTorch. S_i as LayerNorm: the layout (1, S, D).
// Affine: elementwise γ of shape normalized_shape. docs/normalization/rms_norm.md
#pragma once

#include <optional>
#include <string>

#include "layers/norm/affine_norm.h"
#include "layers/norm/norm_core.h"

namespace normlab {

struct RMSNormOptions {
  std::optional<double> eps =
      std::nullopt;  // nullopt: std::numeric_limits<T>::epsilon() of the input
  bool elementwise_affine = true;
  DType dtype = DType::f32;
};

// eq. RMS1–RMS3; the node's backward is eq. RMS4–RMS6. weight (normalized_shape) may be undefined.
Variable rms_norm(const Variable& x, const Shape& normalized_shape, const Variable& weight,
                  std::optional<double> eps);

// The backward of rms_norm written out step by step (eq. RMS4–RMS6); the tests hold the fused
// kernels against it. dbeta is undefined (RMSNorm has no β).
NormGrads rms_norm_backward_reference(const Tensor& x, const Tensor& dy,
                                      const Shape& normalized_shape, const Tensor& gamma,
                                      std::optional<double> eps);

// γ (normalized_shape) and no β: AffineNorm.
class RMSNorm final : public AffineNorm {
 public:
  explicit RMSNorm(Shape normalized_shape, const RMSNormOptions& options = {});

  std::string type_name() const override { return "RMSNorm"; }
  std::string extra_repr() const override;

  const Shape& normalized_shape() const noexcept { return normalized_shape_; }
  const RMSNormOptions& options() const noexcept { return options_; }

 private:
  Variable normalize(const Variable& x, const Variable& weight, const Variable& bias) override;

  Shape normalized_shape_;
  RMSNormOptions options_;
};

}  // namespace normlab
