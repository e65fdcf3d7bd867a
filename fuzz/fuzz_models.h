// fuzz/fuzz_models.h: the model and optimizers the checkpoint target loads into, shared with the
// seed generator so that the seed checkpoints load all the way. The tiny CNN at 1/16 width
// (2, 4, 8 channels) keeps a checkpoint near 5 KiB.
#pragma once

#include <memory>
#include <string_view>

#include "core/rng.h"
#include "layers/optim/adam.h"
#include "layers/optim/sgd.h"
#include "models/model.h"

namespace normlab::fuzz {

inline std::unique_ptr<Module> checkpoint_model() {
  ModelOptions o;
  o.norm = NormKind::batch;  // running statistics: buffers as well as parameters
  o.in_channels = 1;
  o.image_size = 8;
  o.num_classes = 3;
  o.width = 1.0 / 16;
  Rng rng(7);
  return make_model(ModelKind::tiny, o, rng);
}

// "Adam" → Adam, anything else → SGD with momentum (both keep per-parameter state).
inline std::unique_ptr<Optimizer> checkpoint_optimizer(std::string_view type, Module& model) {
  const std::vector<OptimParam> groups = param_groups(model.named_parameters());
  if (type == "Adam") {
    return std::make_unique<Adam>(groups, AdamOptions{.lr = 1e-3, .weight_decay = 0.0});
  }
  return std::make_unique<SGD>(
      groups,
      SGDOptions{
          .lr = 0.1, .momentum = 0.9, .dampening = 0.0, .weight_decay = 0.0, .nesterov = false});
}

}  // namespace normlab::fuzz
