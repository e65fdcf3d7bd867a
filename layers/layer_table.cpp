// layers/layer_table.cpp: the name table and the one switch that builds every layer kind.
#include "layers/layer_table.h"

#include <fmt/format.h>

#include <array>
#include <limits>
#include <type_traits>

#include "core/error.h"
#include "layers/activation.h"
#include "layers/conv2d.h"
#include "layers/dropout.h"
#include "layers/flatten.h"
#include "layers/layer_util.h"
#include "layers/linear.h"
#include "layers/norm/batch_channel_norm.h"
#include "layers/norm/batch_norm.h"
#include "layers/norm/batch_renorm.h"
#include "layers/norm/group_norm.h"
#include "layers/norm/instance_norm.h"
#include "layers/norm/layer_norm.h"
#include "layers/norm/local_response_norm.h"
#include "layers/norm/rms_norm.h"
#include "layers/norm/weight_standardization.h"
#include "layers/pooling.h"

namespace normlab {

namespace {

// Every kind the name table knows, in enum order, and its name.
constexpr std::array<LayerKind, kNumLayerKinds> kLayerKinds = [] {
  std::array<LayerKind, kNumLayerKinds> kinds{};
  std::size_t i = 0;
  for (unsigned v = 0; v <= std::numeric_limits<std::underlying_type_t<LayerKind>>::max(); ++v) {
    if (!detail::layer_name_or_empty(static_cast<LayerKind>(v)).empty()) {
      kinds[i++] = static_cast<LayerKind>(v);
    }
  }
  return kinds;
}();
constexpr std::array<std::string_view, kNumLayerKinds> kLayerNames = [] {
  std::array<std::string_view, kNumLayerKinds> names{};
  for (std::size_t i = 0; i < names.size(); ++i) {
    names[i] = detail::layer_name_or_empty(kLayerKinds[i]);
  }
  return names;
}();
static_assert(detail::distinct_snake_case(kLayerNames),
              "every LayerKind needs its own snake_case name");

// The options conv2d and ws_conv2d share, PyTorch's nn.Conv2d keywords after the channels and
// the kernel size.
Conv2dOptions read_conv2d_options(OptionReader& r, DType dtype) {
  return {.stride = r.get_size2d("stride", 1),
          .padding = r.get_size2d("padding", 0),
          .dilation = r.get_size2d("dilation", 1),
          .groups = r.get_int("groups", 1),
          .bias = r.get_bool("bias", true),
          .dtype = dtype};
}

std::unique_ptr<Module> build(LayerKind kind, OptionReader& r, DType dtype, Rng& rng) {
  switch (kind) {
    case LayerKind::linear: {
      const std::int64_t in = r.required_int("in_features");
      const std::int64_t out = r.required_int("out_features");
      const bool bias = r.get_bool("bias", true);
      r.finish();
      return std::make_unique<Linear>(in, out, rng, LinearOptions{.bias = bias, .dtype = dtype});
    }
    case LayerKind::conv2d: {
      const std::int64_t in = r.required_int("in_channels");
      const std::int64_t out = r.required_int("out_channels");
      const Size2d kernel = r.required_size2d("kernel_size");
      const Conv2dOptions o = read_conv2d_options(r, dtype);
      r.finish();
      return std::make_unique<Conv2d>(in, out, kernel, rng, o);
    }
    case LayerKind::max_pool2d: {
      const Size2d kernel = r.required_size2d("kernel_size");
      const MaxPool2dOptions o{.stride = r.get_optional_size2d("stride"),
                               .padding = r.get_size2d("padding", 0),
                               .dilation = r.get_size2d("dilation", 1)};
      r.finish();
      return std::make_unique<MaxPool2d>(kernel, o);
    }
    case LayerKind::avg_pool2d: {
      const Size2d kernel = r.required_size2d("kernel_size");
      const AvgPool2dOptions o{.stride = r.get_optional_size2d("stride"),
                               .padding = r.get_size2d("padding", 0),
                               .count_include_pad = r.get_bool("count_include_pad", true)};
      r.finish();
      return std::make_unique<AvgPool2d>(kernel, o);
    }
    case LayerKind::global_avg_pool2d:
      r.finish();
      return std::make_unique<GlobalAvgPool2d>();
    case LayerKind::relu:
      r.finish();
      return std::make_unique<ReLU>();
    case LayerKind::leaky_relu: {
      const double slope = r.get_double("negative_slope", 0.01);
      r.finish();
      return std::make_unique<LeakyReLU>(slope);
    }
    case LayerKind::gelu:
      r.finish();
      return std::make_unique<GELU>();
    case LayerKind::dropout: {
      const double p = r.get_double("p", 0.5);
      r.finish();
      return std::make_unique<Dropout>(p, rng.next_u64());
    }
    case LayerKind::flatten: {
      const std::int64_t start = r.get_int("start_dim", 1);
      const std::int64_t end = r.get_int("end_dim", -1);
      r.finish();
      return std::make_unique<Flatten>(static_cast<int>(start), static_cast<int>(end));
    }
    case LayerKind::identity:
      r.finish();
      return std::make_unique<Identity>();
    case LayerKind::batch_norm: {
      const std::int64_t C = r.required_int("num_features");
      const BatchNormOptions o{.eps = r.get_double("eps", 1e-5),
                               .momentum = r.get_optional_double("momentum", 0.1),
                               .affine = r.get_bool("affine", true),
                               .track_running_stats = r.get_bool("track_running_stats", true),
                               .dtype = dtype};
      r.finish();
      return std::make_unique<BatchNorm>(C, o);
    }
    case LayerKind::layer_norm: {
      Shape shape = r.required_shape("normalized_shape");
      const LayerNormOptions o{.eps = r.get_double("eps", 1e-5),
                               .elementwise_affine = r.get_bool("elementwise_affine", true),
                               .dtype = dtype};
      r.finish();
      return std::make_unique<LayerNorm>(std::move(shape), o);
    }
    case LayerKind::instance_norm: {
      const std::int64_t C = r.required_int("num_features");
      const InstanceNormOptions o{.eps = r.get_double("eps", 1e-5),
                                  .momentum = r.get_double("momentum", 0.1),
                                  .affine = r.get_bool("affine", false),
                                  .track_running_stats = r.get_bool("track_running_stats", false),
                                  .dtype = dtype};
      r.finish();
      return std::make_unique<InstanceNorm2d>(C, o);
    }
    case LayerKind::group_norm: {
      const std::int64_t G = r.required_int("num_groups");
      const std::int64_t C = r.required_int("num_channels");
      const GroupNormOptions o{
          .eps = r.get_double("eps", 1e-5), .affine = r.get_bool("affine", true), .dtype = dtype};
      r.finish();
      return std::make_unique<GroupNorm>(G, C, o);
    }
    case LayerKind::batch_renorm: {
      const std::int64_t C = r.required_int("num_features");
      const BatchRenormOptions o{.eps = r.get_double("eps", 1e-5),
                                 .momentum = r.get_double("momentum", 0.1),
                                 .r_max = r.get_double("r_max", 3.0),
                                 .d_max = r.get_double("d_max", 5.0),
                                 .affine = r.get_bool("affine", true),
                                 .dtype = dtype};
      r.finish();
      return std::make_unique<BatchRenorm>(C, o);
    }
    case LayerKind::rms_norm: {
      Shape shape = r.required_shape("normalized_shape");
      const RMSNormOptions o{.eps = r.get_optional_double("eps", std::nullopt),
                             .elementwise_affine = r.get_bool("elementwise_affine", true),
                             .dtype = dtype};
      r.finish();
      return std::make_unique<RMSNorm>(std::move(shape), o);
    }
    case LayerKind::local_response_norm: {
      const std::int64_t size = r.required_int("size");
      const LocalResponseNormOptions o{.alpha = r.get_double("alpha", 1e-4),
                                       .beta = r.get_double("beta", 0.75),
                                       .k = r.get_double("k", 1.0)};
      r.finish();
      return std::make_unique<LocalResponseNorm>(size, o);
    }
    case LayerKind::batch_channel_norm: {
      const std::int64_t C = r.required_int("num_channels");
      const std::int64_t G = r.required_int("num_groups");
      const BatchChannelNormOptions o{.eps = r.get_double("eps", 1e-5),
                                      .momentum = r.get_double("momentum", 0.1),
                                      .estimate = r.get_bool("estimate", true),
                                      .dtype = dtype};
      r.finish();
      return std::make_unique<BatchChannelNorm>(C, G, o);
    }
    case LayerKind::ws_conv2d: {
      const std::int64_t in = r.required_int("in_channels");
      const std::int64_t out = r.required_int("out_channels");
      const Size2d kernel = r.required_size2d("kernel_size");
      const Conv2dOptions conv = read_conv2d_options(r, dtype);
      const WSConv2dOptions o{.conv = conv, .eps = r.get_double("eps", 1e-5)};
      r.finish();
      return std::make_unique<WSConv2d>(in, out, kernel, rng, o);
    }
  }
  throw ValueError(fmt::format("make_layer: invalid LayerKind {}", static_cast<int>(kind)));
}

}  // namespace

std::span<const std::string_view> layer_names() {
  return kLayerNames;
}

std::string_view layer_name(LayerKind kind) {
  const std::string_view name = detail::layer_name_or_empty(kind);
  if (name.empty()) {
    throw ValueError(fmt::format("layer_name: invalid LayerKind {}", static_cast<int>(kind)));
  }
  return name;
}

LayerKind layer_kind(std::string_view name) {
  for (std::size_t i = 0; i < kLayerNames.size(); ++i) {
    if (kLayerNames[i] == name) {
      return kLayerKinds[i];
    }
  }
  std::string valid;
  for (const std::string_view n : kLayerNames) {
    valid += (valid.empty() ? "" : ", ") + std::string(n);
  }
  throw ValueError(fmt::format("make_layer: unknown layer '{}' (valid: {})", name, valid));
}

std::unique_ptr<Module> make_layer(LayerKind kind, const LayerOptions& options, DType dtype,
                                   Rng& rng) {
  OptionReader reader(layer_name(kind), options);
  return build(kind, reader, dtype, rng);
}

std::unique_ptr<Module> make_layer(std::string_view name, const LayerOptions& options, DType dtype,
                                   Rng& rng) {
  return make_layer(layer_kind(name), options, dtype, rng);
}

}  // namespace normlab
