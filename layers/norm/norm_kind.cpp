// layers/norm/norm_kind.cpp: NormKind's name table and make_norm2d.
#include "layers/norm/norm_kind.h"

#include <fmt/format.h>

#include <array>
#include <utility>

#include "core/error.h"
#include "layers/norm/batch_channel_norm.h"
#include "layers/norm/batch_norm.h"
#include "layers/norm/batch_renorm.h"
#include "layers/norm/group_norm.h"
#include "layers/norm/instance_norm.h"

namespace normlab {

namespace {

constexpr std::array<std::pair<NormKind, std::string_view>, kNumNormKinds> kNormKindNames{{
    {NormKind::none, "none"},
    {NormKind::batch, "batch"},
    {NormKind::group, "group"},
    {NormKind::layer, "layer"},
    {NormKind::instance, "instance"},
    {NormKind::batch_renorm, "batch_renorm"},
    {NormKind::batch_channel, "batch_channel"},
    {NormKind::ws_group, "ws_group"},
}};
static_assert(kNormKindNames.size() == static_cast<std::size_t>(NormKind::ws_group) + 1,
              "every NormKind needs a name");

constexpr std::array<NormKind, kNumNormKinds> kAllNormKinds{
    NormKind::none,     NormKind::batch,        NormKind::group,         NormKind::layer,
    NormKind::instance, NormKind::batch_renorm, NormKind::batch_channel, NormKind::ws_group,
};

}  // namespace

std::string_view norm_kind_name(NormKind kind) {
  for (const auto& [k, name] : kNormKindNames) {
    if (k == kind) {
      return name;
    }
  }
  throw ValueError(fmt::format("norm_kind: invalid NormKind value {}", static_cast<int>(kind)));
}

NormKind parse_norm_kind(std::string_view name) {
  std::string valid;
  for (const auto& [kind, n] : kNormKindNames) {
    if (n == name) {
      return kind;
    }
    valid += fmt::format("{}{}", valid.empty() ? "" : ", ", n);
  }
  throw ValueError(fmt::format("norm_kind: unknown normalization '{}' (valid: {})", name, valid));
}

std::span<const NormKind> all_norm_kinds() {
  return kAllNormKinds;
}

bool uses_weight_standardization(NormKind kind) {
  return kind == NormKind::ws_group;
}

std::int64_t clamp_num_groups(std::int64_t num_groups, std::int64_t channels) {
  if (num_groups <= 0 || channels <= 0) {
    throw ValueError(
        fmt::format("norm_kind: num_groups and channels must be positive "
                    "(num_groups: {}, channels: {})",
                    num_groups, channels));
  }
  std::int64_t G = std::min(num_groups, channels);
  while (channels % G != 0) {
    --G;
  }
  return G;
}

std::unique_ptr<Module> make_norm2d(NormKind kind, std::int64_t channels,
                                    const NormOptions& options) {
  const double momentum = options.momentum.value_or(0.1);
  switch (kind) {
    case NormKind::none:
      return nullptr;
    case NormKind::batch:
      return std::make_unique<BatchNorm>(
          channels, BatchNormOptions{
                        .eps = options.eps, .momentum = options.momentum, .dtype = options.dtype});
    case NormKind::group:
    case NormKind::ws_group:
      return std::make_unique<GroupNorm>(
          clamp_num_groups(options.num_groups, channels), channels,
          GroupNormOptions{.eps = options.eps, .dtype = options.dtype});
    case NormKind::layer:
      return std::make_unique<GroupNorm>(
          1, channels, GroupNormOptions{.eps = options.eps, .dtype = options.dtype});
    case NormKind::instance:
      return std::make_unique<InstanceNorm2d>(channels,
                                              InstanceNormOptions{.eps = options.eps,
                                                                  .momentum = momentum,
                                                                  .affine = true,
                                                                  .track_running_stats = false,
                                                                  .dtype = options.dtype});
    case NormKind::batch_renorm:
      return std::make_unique<BatchRenorm>(
          channels,
          BatchRenormOptions{.eps = options.eps, .momentum = momentum, .dtype = options.dtype});
    case NormKind::batch_channel:
      return std::make_unique<BatchChannelNorm>(
          channels, clamp_num_groups(options.num_groups, channels),
          BatchChannelNormOptions{
              .eps = options.eps, .momentum = momentum, .dtype = options.dtype});
  }
  throw ValueError(fmt::format("norm_kind: invalid NormKind value {}", static_cast<int>(kind)));
}

}  // namespace normlab
