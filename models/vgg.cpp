// models/vgg.cpp: the VGG-style CIFAR network (models/vgg.h).
#include "models/vgg.h"

#include <fmt/format.h>

#include <vector>

#include "layers/activation.h"
#include "layers/sequential.h"
#include "models/model_blocks.h"
#include "models/network.h"

namespace normlab {

std::unique_ptr<Module> make_vgg(const ModelOptions& options, Rng& rng) {
  detail::check_model_options("vgg", options);
  const std::vector<std::vector<std::int64_t>> blocks{
      {64, 64}, {128, 128}, {256, 256, 256}, {512, 512, 512}, {512, 512, 512}};
  auto features = std::make_unique<Sequential>();
  std::int64_t in = options.in_channels;
  std::int64_t size = options.image_size;  // side of the map entering each block
  for (const auto& block : blocks) {
    for (const std::int64_t c : block) {
      const std::int64_t out = detail::scaled_channels(c, options.width);
      const std::string where = fmt::format("vgg features.{}", features->size() + 1);
      features->add(detail::make_model_conv(in, out, 3, 1, 1, options, rng));
      features->add(detail::make_model_norm(out, size, options, false, where));
      features->emplace<ReLU>();
      in = out;
    }
    features->add(detail::make_model_pool(size));
    size = size > 1 ? detail::output_size(size, 2, 2, 0) : size;
  }
  auto model = std::make_unique<Network>("VGG");
  model->add("features", std::move(features));
  detail::add_classifier_head(*model, in, options, rng);
  return model;
}

}  // namespace normlab
