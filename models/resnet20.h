// models/resnet20.h: He et al.'s CIFAR ResNet-20 ("Deep Residual Learning for Image Recognition",
// arXiv:1512.03385, section 4.2: 6n + 2 layers with n = 3), with any normalization.
//   stem        conv3×3 16 – norm – ReLU
//   layer1      3 basic blocks, 16 channels                   (stride 1)
//   layer2      3 basic blocks, 32 channels                   (stride 2 in the first block)
//   layer3      3 basic blocks, 64 channels                   (stride 2 in the first block)
//   pool        global average pool; flatten;  classifier  Linear(64 → classes)
// Basic block = ResidualBlock: y = ReLU(body(x) + shortcut(x)) with
//   body      conv3×3 (stride s) – norm – ReLU – conv3×3 – norm        (body.0 … body.4)
//   shortcut  identity, or where the shape changes a 1×1 conv with stride s – norm (shortcut.0,
//             shortcut.1): the paper's option B (projection only when dimensions increase). The
//             paper's CIFAR nets use option A (zero-padded identity), which has no parameters.
// With ModelOptions::zero_init_last_gamma the γ of body.4 starts at 0 in every block. Channels are
// scaled by ModelOptions::width. Names: "stem.0.weight", "layer2.0.body.1.weight",
// "layer2.0.shortcut.0.weight", "classifier.weight", ...
#pragma once

#include <memory>

#include "core/rng.h"
#include "layers/module.h"
#include "models/model.h"

namespace normlab {

std::unique_ptr<Module> make_resnet20(const ModelOptions& options, Rng& rng);

}  // namespace normlab
