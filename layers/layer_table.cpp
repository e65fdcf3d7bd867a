// layers/layer_table.cpp: the name table and the one switch that builds every layer kind.
#include "layers/layer_table.h"

#include <fmt/format.h>

#include <array>

#include "core/error.h"
#include "layers/activation.h"
#include "layers/conv2d.h"
#include "layers/dropout.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/pooling.h"

namespace normlab {

namespace {

constexpr std::array<std::string_view, kNumLayerKinds> kLayerNames{
    "linear",     "conv2d", "max_pool2d", "avg_pool2d", "global_avg_pool2d", "relu",
    "leaky_relu", "gelu",   "dropout",    "flatten",    "identity",
};
static_assert(kLayerNames.size() == kNumLayerKinds, "one name per LayerKind");
static_assert(kLayerNames.back() != "", "every LayerKind has a name");

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
      const Conv2dOptions o{.stride = r.get_size2d("stride", 1),
                            .padding = r.get_size2d("padding", 0),
                            .dilation = r.get_size2d("dilation", 1),
                            .groups = r.get_int("groups", 1),
                            .bias = r.get_bool("bias", true),
                            .dtype = dtype};
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
  }
  throw ValueError(fmt::format("make_layer: invalid LayerKind {}", static_cast<int>(kind)));
}

}  // namespace

std::span<const std::string_view> layer_names() {
  return kLayerNames;
}

std::string_view layer_name(LayerKind kind) {
  const auto i = static_cast<std::size_t>(kind);
  if (i >= kLayerNames.size()) {
    throw ValueError(fmt::format("layer_name: invalid LayerKind {}", i));
  }
  return kLayerNames[i];
}

LayerKind layer_kind(std::string_view name) {
  for (std::size_t i = 0; i < kLayerNames.size(); ++i) {
    if (kLayerNames[i] == name) {
      return static_cast<LayerKind>(i);
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
