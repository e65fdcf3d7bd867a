// models/resnet20.cpp: ResNet-20 for CIFAR (models/resnet20.h).
#include "models/resnet20.h"

#include <fmt/format.h>

#include <array>
#include <string>

#include "layers/activation.h"
#include "layers/sequential.h"
#include "models/model_blocks.h"
#include "models/network.h"

namespace normlab {

namespace {

// One basic block in → out with stride s on a map of side `size` (the block's input);
// `where` is the block's name, e.g. "resnet20 layer2.0".
std::unique_ptr<Module> basic_block(std::int64_t in, std::int64_t out, std::int64_t stride,
                                    std::int64_t size, const ModelOptions& options, Rng& rng,
                                    const std::string& where) {
  const std::int64_t out_size = detail::output_size(size, 3, stride, 1);
  auto body = std::make_unique<Sequential>();
  body->add(detail::make_model_conv(in, out, 3, stride, 1, options, rng));
  body->add(detail::make_model_norm(out, out_size, options, false, where + ".body.1"));
  body->emplace<ReLU>();
  body->add(detail::make_model_conv(out, out, 3, 1, 1, options, rng));
  body->add(detail::make_model_norm(out, out_size, options, options.zero_init_last_gamma,
                                    where + ".body.4"));
  std::unique_ptr<Sequential> shortcut;
  if (stride != 1 || in != out) {  // option B: project only where the shape changes
    shortcut = std::make_unique<Sequential>();
    shortcut->add(detail::make_model_conv(in, out, 1, stride, 0, options, rng));
    shortcut->add(detail::make_model_norm(out, out_size, options, false, where + ".shortcut.1"));
  }
  return std::make_unique<ResidualBlock>(std::move(body), std::move(shortcut));
}

}  // namespace

std::unique_ptr<Module> make_resnet20(const ModelOptions& options, Rng& rng) {
  detail::check_model_options("resnet20", options);
  constexpr std::int64_t kBlocksPerStage = 3;  // n = 3: 6n + 2 = 20 layers
  constexpr std::array<std::int64_t, 3> kChannels{16, 32, 64};
  std::int64_t size = options.image_size;

  auto model = std::make_unique<Network>("ResNet20");
  std::int64_t in = detail::scaled_channels(kChannels[0], options.width);
  auto stem = std::make_unique<Sequential>();
  stem->add(detail::make_model_conv(options.in_channels, in, 3, 1, 1, options, rng));
  stem->add(detail::make_model_norm(in, size, options, false, "resnet20 stem.1"));
  stem->emplace<ReLU>();
  model->add("stem", std::move(stem));

  for (std::size_t s = 0; s < kChannels.size(); ++s) {
    const std::int64_t out = detail::scaled_channels(kChannels[s], options.width);
    auto stage = std::make_unique<Sequential>();
    for (std::int64_t b = 0; b < kBlocksPerStage; ++b) {
      const std::int64_t stride = (s > 0 && b == 0) ? 2 : 1;
      const std::string where = fmt::format("resnet20 layer{}.{}", s + 1, b);
      stage->add(basic_block(in, out, stride, size, options, rng, where));
      size = detail::output_size(size, 3, stride, 1);
      in = out;
    }
    model->add(fmt::format("layer{}", s + 1), std::move(stage));
  }
  detail::add_classifier_head(*model, in, options, rng);
  return model;
}

}  // namespace normlab
