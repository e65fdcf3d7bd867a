// models/tiny_cnn.h: the default model, a small CNN for 28×28 or 32×32 images.
//   features    3 × [conv3×3 (padding 1) – norm – ReLU – max-pool 2]   32, 64, 128 channels
//   pool        global average pool                                    (N, 128, 1, 1)
//   flatten                                                            (N, 128)
//   classifier  Linear(128 → classes)
// Channels are scaled by ModelOptions::width. Child indices are fixed, whatever the norm and the
// image size: features.0 conv, .1 norm, .2 ReLU, .3 pool, .4 conv, …, .11 pool. The norm none is
// an Identity and a pool on a 1×1 map is an Identity, so the names are "features.0.weight",
// "features.1.weight", "features.1.running_mean", …, "classifier.weight", "classifier.bias".
#pragma once

#include <memory>

#include "core/rng.h"
#include "layers/module.h"
#include "models/model.h"

namespace normlab {

std::unique_ptr<Module> make_tiny_cnn(const ModelOptions& options, Rng& rng);

}  // namespace normlab
