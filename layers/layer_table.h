// layers/layer_table.h: the closed, name-addressable list of layers that configs and the CLI can
// build (ggml's op enum + name table). One enum, one name table whose size is checked against it,
// and one switch without default in make_layer, so -Wswitch flags a kind that is not handled.
// To add a layer: add an enumerator (and move kLastLayerKind if it is the new last), its snake_case
// name at the same position in kLayerNames (layer_table.cpp), and its case in make_layer.
// Option keys are PyTorch's constructor keywords, e.g.
//   make_layer("conv2d", {{"in_channels", "3"}, {"out_channels", "16"}, {"kernel_size", "3"},
//                         {"padding", "1"}, {"bias", "false"}}, DType::f32, rng)
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

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
inline constexpr LayerKind kLastLayerKind = LayerKind::ws_conv2d;
inline constexpr std::size_t kNumLayerKinds = static_cast<std::size_t>(kLastLayerKind) + 1;

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
