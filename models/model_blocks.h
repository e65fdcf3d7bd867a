// models/model_blocks.h: the pieces the three model builders share: channel scaling, the
// convolution that precedes a norm (plain or weight-standardized, with the models' init), the norm
// layer of a ModelKind (Identity for none, wrapped by ModelOptions::wrap_norm) and the spatial
// bookkeeping that lets a builder skip a pool on a 1×1 map and refuse InstanceNorm on one.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "core/rng.h"
#include "layers/module.h"
#include "models/model.h"
#include "models/network.h"

namespace normlab::detail {

// ValueError naming the model for a non-positive in_channels, image_size, num_classes or width.
void check_model_options(std::string_view model, const ModelOptions& options);

// max(1, round(channels·width)).
std::int64_t scaled_channels(std::int64_t channels, double width);

// Side of a convolution's or pool's output: ⌊(size + 2·padding − kernel)/stride⌋ + 1.
std::int64_t output_size(std::int64_t size, std::int64_t kernel, std::int64_t stride,
                         std::int64_t padding);

// A k×k convolution in → out that a norm follows: Conv2d, or the weight-standardized convolution
// when the norm kind asks for one (uses_weight_standardization). Bias only when the norm is none.
// Weight: Kaiming normal, fan_out, relu; bias: 0.
std::unique_ptr<Module> make_model_conv(std::int64_t in, std::int64_t out, std::int64_t kernel,
                                        std::int64_t stride, std::int64_t padding,
                                        const ModelOptions& options, Rng& rng);

// The norm layer for `channels` features of spatial side `size`: Identity for none, otherwise
// make_norm2d. With zero_gamma, the last γ (the parameter named "weight" registered last, e.g.
// batch_channel's channel_norm.weight) is set to 0 before wrapping. Then ModelOptions::wrap_norm.
// `where` names the layer in errors: the InstanceNorm-on-1×1 check reads it.
std::unique_ptr<Module> make_model_norm(std::int64_t channels, std::int64_t size,
                                        const ModelOptions& options, bool zero_gamma,
                                        std::string_view where);

// MaxPool2d(2) on a map of side `size`, or Identity when size is 1 (a pool would empty it), so
// every input size works and child indices do not depend on it.
std::unique_ptr<Module> make_model_pool(std::int64_t size);

// The head every model ends with: "pool" (global average pooling), "flatten" and "classifier"
// (Linear(in → num_classes)), added to model under PyTorch-twin names.
void add_classifier_head(Network& model, std::int64_t in, const ModelOptions& options, Rng& rng);

}  // namespace normlab::detail
