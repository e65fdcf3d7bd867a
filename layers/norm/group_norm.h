// layers/norm/group_norm.h: Group Normalization (Wu & He 2018, arXiv:1803.08494) for x (N, C, *).
// S_i = {k : k_N = i_N, ⌊k_C/(C/G)⌋ = ⌊i_C/(C/G)⌋} (GN paper eq. 7), the layout
// (1, N·G, (C/G)·H·W). Affine: per channel γ_c, β_c (GN paper eq. 6), as in PyTorch. G = 1 is
// LayerNorm over (C, H, W) with a per-channel affine, G = C is InstanceNorm.
// docs/normalization/group_norm.md
#pragma once

#include <cstdint>
#include <string>

#include "layers/norm/affine_norm.h"
#include "layers/norm/norm_core.h"
#include "layers/norm/set_norm_kernels.h"

namespace normlab {

struct GroupNormOptions {
  double eps = 1e-5;
  bool affine = true;
  DType dtype = DType::f32;
};

// S_i of the GN paper's eq. 7 for x (N, C, *); ShapeError when G does not divide C.
SetLayout group_norm_layout(const Shape& shape, std::int64_t G);

// The sets of eq. 7 and the per-channel affine, as the fused kernels take them.
NormPlan group_norm_plan(const Shape& shape, std::int64_t G);

// y = γ_c·x̂ + β_c with x̂ normalized over each (sample, group) (eq. GN1–GN4); the node's backward
// is eq. GN5–GN8. weight and bias (C) may be undefined.
Variable group_norm(const Variable& x, std::int64_t num_groups, const Variable& weight,
                    const Variable& bias, double eps);

// The backward of group_norm written out step by step (eq. GN5–GN8) with the readable primitives
// of norm_core.h; the tests hold the fused kernels against it.
NormGrads group_norm_backward_reference(const Tensor& x, const Tensor& dy, std::int64_t G,
                                        const Tensor& gamma, double eps);

// γ, β (C): AffineNorm.
class GroupNorm final : public AffineNorm {
 public:
  // PyTorch's argument order: nn.GroupNorm(num_groups, num_channels). ShapeError at construction
  // when num_groups does not divide num_channels.
  GroupNorm(std::int64_t num_groups, std::int64_t num_channels,
            const GroupNormOptions& options = {});

  std::string type_name() const override { return "GroupNorm"; }
  std::string extra_repr() const override;

  std::int64_t num_groups() const noexcept { return num_groups_; }
  std::int64_t num_channels() const noexcept { return num_channels_; }
  const GroupNormOptions& options() const noexcept { return options_; }

 private:
  Variable normalize(const Variable& x, const Variable& weight, const Variable& bias) override;

  std::int64_t num_groups_, num_channels_;
  GroupNormOptions options_;
};

}  // namespace normlab
