// layers/layer_table.h: the closed, name-addressable list of layers that configs and the CLI can
// build (ggml's op enum + name table). One enum; its name table and make_layer are switches
// without default, so -Wswitch (an error in the dev build) flags a kind either one misses, and
// the count and layer_names() follow from the name table.
// To add a layer: add an enumerator, its snake_case name in detail::layer_name_or_empty, and its
// case in make_layer (layer_table.cpp).
// Option keys are PyTorch's constructor keywords, e.g.
//   make_layer("conv2d", {{"in_channels", "3"}, {"out_channels", "16"}, {"kernel_size", "3"},
//                         {"padding", "1"}, {"bias", "false"}}, DType::f32, rng)
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string_view>
#include <type_traits>

#include "core/rng.h"
#include "layers/layer_options.h"
#include "layers/module.h"

namespace normlab {

enum class LayerKind : std::uint8_t {
  linear,             // in_features*, out_features*, bias
  conv2d,             // in_channels*, out_channels*, kernel_size*, stride, padding, dilation,
                      // groups, bias
  max_pool2d,         // kernel_size*, stride (default kernel_size), padding, dilation
  avg_pool2d,         // kernel_size*, stride (default kernel_size), padding, count_include_pad
  global_avg_pool2d,  // (none)
  relu,               // (none)
  leaky_relu,         // negative_slope (0.01)
  gelu,               // (none)
  dropout,            // p (0.5); the layer's Rng is seeded from the rng passed to make_layer
  flatten,            // start_dim (1), end_dim (-1)
  identity,           // (none)
  // The normalization family (layers/norm/, docs/normalization/); * marks a required key.
  batch_norm,           // num_features*, eps (1e-5), momentum (0.1; None: cumulative), affine,
                        // track_running_stats
  layer_norm,           // normalized_shape* ("8x4x4"), eps (1e-5), elementwise_affine
  instance_norm,        // num_features*, eps, momentum (0.1), affine (false),
                        // track_running_stats (false)
  group_norm,           // num_groups*, num_channels*, eps, affine
  batch_renorm,         // num_features*, eps, momentum (0.1), r_max (3), d_max (5), affine
  rms_norm,             // normalized_shape*, eps (None: the dtype's epsilon), elementwise_affine
  local_response_norm,  // size*, alpha (1e-4), beta (0.75), k (1)
  batch_channel_norm,   // num_channels*, num_groups*, eps, momentum (0.1), estimate (true)
  ws_conv2d,            // conv2d's keys, and eps (1e-5) of the weight standardization
};
namespace detail {

// The one name table: a switch without default. "" for a value that is no LayerKind.
constexpr std::string_view layer_name_or_empty(LayerKind kind) noexcept {
  switch (kind) {
    case LayerKind::linear:
      return "linear";
    case LayerKind::conv2d:
      return "conv2d";
    case LayerKind::max_pool2d:
      return "max_pool2d";
    case LayerKind::avg_pool2d:
      return "avg_pool2d";
    case LayerKind::global_avg_pool2d:
      return "global_avg_pool2d";
    case LayerKind::relu:
      return "relu";
    case LayerKind::leaky_relu:
      return "leaky_relu";
    case LayerKind::gelu:
      return "gelu";
    case LayerKind::dropout:
      return "dropout";
    case LayerKind::flatten:
      return "flatten";
    case LayerKind::identity:
      return "identity";
    case LayerKind::batch_norm:
      return "batch_norm";
    case LayerKind::layer_norm:
      return "layer_norm";
    case LayerKind::instance_norm:
      return "instance_norm";
    case LayerKind::group_norm:
      return "group_norm";
    case LayerKind::batch_renorm:
      return "batch_renorm";
    case LayerKind::rms_norm:
      return "rms_norm";
    case LayerKind::local_response_norm:
      return "local_response_norm";
    case LayerKind::batch_channel_norm:
      return "batch_channel_norm";
    case LayerKind::ws_conv2d:
      return "ws_conv2d";
  }
  return {};
}

// Every value of the underlying type that the name table knows is a LayerKind.
constexpr std::size_t count_layer_kinds() noexcept {
  std::size_t n = 0;
  for (unsigned v = 0; v <= std::numeric_limits<std::underlying_type_t<LayerKind>>::max(); ++v) {
    n += layer_name_or_empty(static_cast<LayerKind>(v)).empty() ? 0 : 1;
  }
  return n;
}

}  // namespace detail

inline constexpr std::size_t kNumLayerKinds = detail::count_layer_kinds();

std::span<const std::string_view> layer_names();  // in enum order
std::string_view layer_name(LayerKind kind);
// ValueError "make_layer: unknown layer 'x' (valid: linear, conv2d, ...)".
LayerKind layer_kind(std::string_view name);

// Builds a layer with parameters of the given dtype, initialised from rng (PyTorch's defaults).
// Unknown names, unknown or missing option keys, and bad values are ValueErrors listing the valid
// names or keys.
std::unique_ptr<Module> make_layer(LayerKind kind, const LayerOptions& options, DType dtype,
                                   Rng& rng);
std::unique_ptr<Module> make_layer(std::string_view name, const LayerOptions& options, DType dtype,
                                   Rng& rng);

}  // namespace normlab
