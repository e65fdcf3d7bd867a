// layers/norm/norm_kind.cpp: NormKind's name table and make_norm2d.
#include "layers/norm/norm_kind.h"

#include <fmt/format.h>

#include <array>

#include "core/error.h"
#include "layers/layer_util.h"
#include "layers/norm/batch_channel_norm.h"
#include "layers/norm/batch_norm.h"
#include "layers/norm/batch_renorm.h"
#include "layers/norm/group_norm.h"
#include "layers/norm/instance_norm.h"
#include "layers/norm/sync_batch_norm.h"

namespace normlab {

namespace {

// Every kind the name table knows, in enum order.
constexpr std::array<NormKind, kNumNormKinds> kAllNormKinds = [] {
  std::array<NormKind, kNumNormKinds> kinds{};
  std::size_t i = 0;
  for (unsigned v = 0; v <= std::numeric_limits<std::underlying_type_t<NormKind>>::max(); ++v) {
    if (!detail::norm_kind_name_or_empty(static_cast<NormKind>(v)).empty()) {
      kinds[i++] = static_cast<NormKind>(v);
    }
  }
  return kinds;
}();

constexpr std::array<std::string_view, kNumNormKinds> kNormKindNames = [] {
  std::array<std::string_view, kNumNormKinds> names{};
  for (std::size_t i = 0; i < names.size(); ++i) {
    names[i] = detail::norm_kind_name_or_empty(kAllNormKinds[i]);
  }
  return names;
}();
static_assert(detail::distinct_snake_case(kNormKindNames),
              "every NormKind needs its own snake_case name");

}  // namespace

std::string_view norm_kind_name(NormKind kind) {
  const std::string_view name = detail::norm_kind_name_or_empty(kind);
  if (name.empty()) {
    throw ValueError(fmt::format("norm_kind: invalid NormKind value {}", static_cast<int>(kind)));
  }
  return name;
}

NormKind parse_norm_kind(std::string_view name) {
  std::string valid;
  for (std::size_t i = 0; i < kNumNormKinds; ++i) {
    if (kNormKindNames[i] == name) {
      return kAllNormKinds[i];
    }
    valid += fmt::format("{}{}", valid.empty() ? "" : ", ", kNormKindNames[i]);
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
    case NormKind::sync_batch:
      return std::make_unique<SyncBatchNorm>(
          channels, options.comm,
          BatchNormOptions{
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
