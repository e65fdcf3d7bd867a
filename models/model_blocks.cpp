// models/model_blocks.cpp: the layers the model builders share (models/model_blocks.h).
#include "models/model_blocks.h"

#include <fmt/format.h>

#include <cmath>
#include <utility>

#include "core/error.h"
#include "layers/conv2d.h"
#include "layers/flatten.h"
#include "layers/init.h"
#include "layers/linear.h"
#include "layers/norm/weight_standardization.h"
#include "layers/pooling.h"

namespace normlab::detail {

void check_model_options(std::string_view model, const ModelOptions& options) {
  if (options.in_channels <= 0 || options.image_size <= 0 || options.num_classes <= 0) {
    throw ValueError(
        fmt::format("{}: in_channels, image_size and num_classes must be positive "
                    "(in_channels: {}, image_size: {}, num_classes: {})",
                    model, options.in_channels, options.image_size, options.num_classes));
  }
  if (!(options.width > 0.0 && std::isfinite(options.width))) {
    throw ValueError(
        fmt::format("{}: width must be positive and finite (width: {})", model, options.width));
  }
}

std::int64_t scaled_channels(std::int64_t channels, double width) {
  return std::max<std::int64_t>(
      1, static_cast<std::int64_t>(std::llround(static_cast<double>(channels) * width)));
}

std::int64_t output_size(std::int64_t size, std::int64_t kernel, std::int64_t stride,
                         std::int64_t padding) {
  return (size + 2 * padding - kernel) / stride + 1;
}

namespace {

// torchvision's ResNet init: W ~ N(0, 2/fan_out), fan_out = O·kH·kW; b = 0.
void init_conv(Variable& weight, Variable& bias, Rng& rng) {
  kaiming_normal_(weight.data(), rng, 0.0, FanMode::fan_out, Nonlinearity::relu);
  if (bias.defined()) {
    zeros_(bias.data());
  }
}

// The γ that scales the norm's output last: the last registered parameter named "weight".
void zero_last_gamma(Module& norm) {
  Variable* gamma = nullptr;
  for (auto& [name, parameter] : norm.named_parameters()) {
    if (name == "weight" || name.ends_with(".weight")) {
      gamma = parameter;
    }
  }
  if (gamma == nullptr) {
    throw ValueError(
        fmt::format("zero_init_last_gamma: {} has no affine weight to zero", norm.type_name()));
  }
  zeros_(gamma->data());
}

}  // namespace

std::unique_ptr<Module> make_model_conv(std::int64_t in, std::int64_t out, std::int64_t kernel,
                                        std::int64_t stride, std::int64_t padding,
                                        const ModelOptions& options, Rng& rng) {
  const Conv2dOptions conv_options{.stride = stride,
                                   .padding = padding,
                                   .bias = options.norm == NormKind::none,
                                   .dtype = options.norm_options.dtype};
  if (uses_weight_standardization(options.norm)) {
    auto conv = std::make_unique<WSConv2d>(
        in, out, kernel, rng,
        WSConv2dOptions{.conv = conv_options, .eps = options.norm_options.eps});
    init_conv(conv->weight(), conv->bias(), rng);
    return conv;
  }
  auto conv = std::make_unique<Conv2d>(in, out, kernel, rng, conv_options);
  init_conv(conv->weight(), conv->bias(), rng);
  return conv;
}

std::unique_ptr<Module> make_model_norm(std::int64_t channels, std::int64_t size,
                                        const ModelOptions& options, bool zero_gamma,
                                        std::string_view where) {
  if (options.norm == NormKind::none) {
    return std::make_unique<Identity>();
  }
  if (options.norm == NormKind::instance && size <= 1) {
    throw ValueError(fmt::format(
        "{}: InstanceNorm cannot train on a 1×1 feature map (channels: {}, image_size: {}); use "
        "a larger image_size or another norm",
        where, channels, options.image_size));
  }
  NormOptions norm_options = options.norm_options;
  const bool grouped = options.norm == NormKind::group || options.norm == NormKind::batch_channel ||
                       options.norm == NormKind::ws_group;
  if (options.group_size > 0 && grouped) {
    if (channels % options.group_size != 0) {
      throw ValueError(fmt::format(
          "{}: {} channels are not divisible into groups of {} (group_size; choose a divisor of "
          "every layer's channels)",
          where, channels, options.group_size));
    }
    norm_options.num_groups = channels / options.group_size;
  }
  std::unique_ptr<Module> norm = make_norm2d(options.norm, channels, norm_options);
  if (zero_gamma) {
    zero_last_gamma(*norm);
  }
  if (options.wrap_norm) {
    norm = options.wrap_norm(std::move(norm));
    if (!norm) {
      throw ValueError(fmt::format("{}: wrap_norm returned null", where));
    }
  }
  return norm;
}

std::unique_ptr<Module> make_model_pool(std::int64_t size) {
  if (size <= 1) {
    return std::make_unique<Identity>();
  }
  return std::make_unique<MaxPool2d>(2);
}

void add_classifier_head(Network& model, std::int64_t in, const ModelOptions& options, Rng& rng) {
  model.add("pool", std::make_unique<GlobalAvgPool2d>());
  model.add("flatten", std::make_unique<Flatten>());
  model.add("classifier",
            std::make_unique<Linear>(in, options.num_classes, rng,
                                     LinearOptions{.dtype = options.norm_options.dtype}));
}

}  // namespace normlab::detail
