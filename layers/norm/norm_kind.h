// layers/norm/norm_kind.h: the closed list of normalizations a model can be built with, its name
// table, and make_norm2d, the one place that turns a NormKind into a layer for (N, C, H, W)
// features. docs/normalization/README.md compares the kinds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>

#include "layers/module.h"

namespace normlab {

class Communicator;

// ws_group is a weight-standardized convolution followed by GroupNorm: make_norm2d builds the
// GroupNorm, and the model builder asks uses_weight_standardization() for the convolution.
// To add a kind: add the enumerator, its name in detail::norm_kind_name_or_empty, and its case in
// make_norm2d; -Wswitch (an error in the dev build) points at both switches until they handle it.
// The count and all_norm_kinds() follow from the name table.
enum class NormKind : std::uint8_t {
  none,
  batch,
  group,
  layer,
  instance,
  batch_renorm,
  batch_channel,
  ws_group,
  sync_batch,
};

namespace detail {

// The one name table: a switch without default. "" for a value that is no NormKind.
constexpr std::string_view norm_kind_name_or_empty(NormKind kind) noexcept {
  switch (kind) {
    case NormKind::none:
      return "none";
    case NormKind::batch:
      return "batch";
    case NormKind::group:
      return "group";
    case NormKind::layer:
      return "layer";
    case NormKind::instance:
      return "instance";
    case NormKind::batch_renorm:
      return "batch_renorm";
    case NormKind::batch_channel:
      return "batch_channel";
    case NormKind::ws_group:
      return "ws_group";
    case NormKind::sync_batch:
      return "sync_batch";
  }
  return {};
}

// Every value of the underlying type that the name table knows is a NormKind.
constexpr std::size_t count_norm_kinds() noexcept {
  std::size_t n = 0;
  for (unsigned v = 0; v <= std::numeric_limits<std::underlying_type_t<NormKind>>::max(); ++v) {
    n += norm_kind_name_or_empty(static_cast<NormKind>(v)).empty() ? 0 : 1;
  }
  return n;
}

}  // namespace detail

inline constexpr std::size_t kNumNormKinds = detail::count_norm_kinds();

std::string_view norm_kind_name(NormKind kind);  // "batch", "ws_group", ...
// ValueError naming the unknown name and listing the valid ones.
NormKind parse_norm_kind(std::string_view name);
std::span<const NormKind> all_norm_kinds();       // in enum order
bool uses_weight_standardization(NormKind kind);  // true for ws_group

struct NormOptions {
  // Groups for group, batch_channel and ws_group, clamped per layer by clamp_num_groups.
  std::int64_t num_groups = 32;
  double eps = 1e-5;
  // nullopt: BatchNorm's cumulative average; the kinds without one (instance, batch_renorm,
  // batch_channel) then use 0.1.
  std::optional<double> momentum = 0.1;
  DType dtype = DType::f32;
  // sync_batch: the ranks whose shards form the batch (core/communicator.h); it must outlive the
  // model. null: this process alone, and sync_batch is batch.
  Communicator* comm = nullptr;
};

// The largest divisor of channels that is not above num_groups (at least 1), so GroupNorm(G, C)
// always exists: (32, 16) → 16, (32, 48) → 24, (4, 10) → 2, (32, 7) → 7, (3, 7) → 1.
// ValueError when channels or num_groups is not positive.
std::int64_t clamp_num_groups(std::int64_t num_groups, std::int64_t channels);

// The normalization layer of `kind` for (N, C, H, W) features with C = channels:
//   none          → nullptr (no layer)
//   batch         → BatchNorm(C, eps, momentum)
//   group         → GroupNorm(G, C, eps)                      G = clamp_num_groups(num_groups, C)
//   layer         → GroupNorm(1, C, eps): LayerNorm over (C, H, W) with a per-channel affine, which
//                   needs no H, W at construction (the tests prove the equivalence)
//   instance      → InstanceNorm2d(C, eps, momentum, affine on, running statistics off): affine on,
//                   unlike PyTorch's default, so every kind learns a per-channel γ, β
//   batch_renorm  → BatchRenorm(C, eps, momentum)
//   batch_channel → BatchChannelNorm(C, G, eps, momentum)    (estimated batch statistics)
//   ws_group      → GroupNorm(G, C, eps); the convolution before it is weight-standardized
//   sync_batch    → SyncBatchNorm(C, comm, eps, momentum): BatchNorm over the global batch of
//                   every rank of comm (data-parallel training, docs/distributed.md)
std::unique_ptr<Module> make_norm2d(NormKind kind, std::int64_t channels,
                                    const NormOptions& options = {});

}  // namespace normlab
