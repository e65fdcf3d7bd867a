// layers/norm/group_norm.h: Group Normalization (Wu & He 2018, arXiv:1803.08494) for x (N, C, *).
// S_i = {k : k_N = i_N, ⌊k_C/(C/G)⌋ = ⌊i_C/(C/G)⌋} (GN paper eq. 7), the layout
// (1, N·G, (C/G)·H·W). Affine: per channel γ_c, β_c (GN paper eq. 6), as in PyTorch. G = 1 is
// LayerNorm over (C, H, W) with a per-channel affine, G = C is InstanceNorm. The op and the module
// also serve Batch-Channel Normalization's channel norm, which is GroupNorm with γ, β per group.
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

// Where γ and β vary: per channel c (GroupNorm, as in PyTorch) or per group g (the channel norm of
// Batch-Channel Normalization, batch_channel_norm.h). With G = C the two coincide.
enum class GroupAffine : std::uint8_t { per_channel, per_group };

// The sets of eq. 7 and the affine `per`, as the fused kernels take them.
NormPlan group_norm_plan(const Shape& shape, std::int64_t G,
                         GroupAffine per = GroupAffine::per_channel);

// y = γ·x̂ + β with x̂ normalized over each (sample, group) (eq. GN1–GN4) and γ, β per channel
// (C) or per group (G) as `per` says; the node's backward is eq. GN5–GN8 (per group: BCN6–BCN9).
// weight and bias may be undefined. Errors name the op "group_norm" or, per group, "channel_norm".
Variable group_norm(const Variable& x, std::int64_t num_groups, const Variable& weight,
                    const Variable& bias, double eps, GroupAffine per = GroupAffine::per_channel);

// The backward of group_norm written out step by step (eq. GN5–GN8) with the readable primitives
// of norm_core.h; the tests hold the fused kernels against it.
NormGrads group_norm_backward_reference(const Tensor& x, const Tensor& dy, std::int64_t G,
                                        const Tensor& gamma, double eps);

// The module GroupNorm and ChannelNorm share: statistics over each (sample, group) of G groups of
// C channels, γ and β (C or G, as `per` says): AffineNorm. ShapeError at construction when G does
// not divide C. Each subclass keeps its own argument order, name and repr.
class GroupedNorm : public AffineNorm {
 public:
  std::int64_t num_groups() const noexcept { return num_groups_; }
  std::int64_t num_channels() const noexcept { return num_channels_; }
  const GroupNormOptions& options() const noexcept { return options_; }

 protected:
  GroupedNorm(std::int64_t num_groups, std::int64_t num_channels, GroupAffine per,
              const GroupNormOptions& options);

 private:
  Variable normalize(const Variable& x, const Variable& weight, const Variable& bias) final;

  std::int64_t num_groups_, num_channels_;
  GroupAffine per_;
  GroupNormOptions options_;
};

// γ, β (C).
class GroupNorm final : public GroupedNorm {
 public:
  // PyTorch's argument order: nn.GroupNorm(num_groups, num_channels).
  GroupNorm(std::int64_t num_groups, std::int64_t num_channels,
            const GroupNormOptions& options = {})
      : GroupedNorm(num_groups, num_channels, GroupAffine::per_channel, options) {}

  std::string type_name() const override { return "GroupNorm"; }
  std::string extra_repr() const override;  // "32, 64, eps=1e-05, affine=True"
};

}  // namespace normlab
