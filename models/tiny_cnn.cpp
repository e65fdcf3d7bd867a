// models/tiny_cnn.cpp: the tiny CNN (models/tiny_cnn.h).
#include "models/tiny_cnn.h"

#include <fmt/format.h>

#include <array>

#include "layers/activation.h"
#include "layers/sequential.h"
#include "models/model_blocks.h"
#include "models/network.h"

namespace normlab {

std::unique_ptr<Module> make_tiny_cnn(const ModelOptions& options, Rng& rng) {
  detail::check_model_options("tiny", options);
  constexpr std::array<std::int64_t, 3> kChannels{32, 64, 128};
  auto features = std::make_unique<Sequential>();
  std::int64_t in = options.in_channels;
  std::int64_t size = options.image_size;  // side of the map entering each block
  for (const std::int64_t c : kChannels) {
    const std::int64_t out = detail::scaled_channels(c, options.width);
    const std::string where = fmt::format("tiny features.{}", features->size() + 1);
    features->add(detail::make_model_conv(in, out, 3, 1, 1, options, rng));
    features->add(detail::make_model_norm(out, size, options, false, where));
    features->emplace<ReLU>();
    features->add(detail::make_model_pool(size));
    size = size > 1 ? detail::output_size(size, 2, 2, 0) : size;
    in = out;
  }
  auto model = std::make_unique<Network>("TinyCNN");
  model->add("features", std::move(features));
  detail::add_classifier_head(*model, in, options, rng);
  return model;
}

}  // namespace normlab
