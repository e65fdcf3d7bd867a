// models/vgg.h: the VGG-style CIFAR-10 network of labml's normalization experiments
// (labml_nn/experiments/cifar10.py, CIFAR10VGGModel, with the norm of each experiment), after
// Simonyan & Zisserman 2014 (arXiv:1409.1556), configuration D's convolutions.
//   features    5 blocks of [conv3×3 (padding 1) – norm – ReLU] with
//               [64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512] channels,
//               each block followed by max-pool 2 (an Identity when the map is already 1×1)
//   pool        global average pool                                    (N, 512, 1, 1)
//   flatten                                                            (N, 512)
//   classifier  Linear(512 → classes)
// labml flattens the 1×1 map of a 32×32 input directly; the global average pool is the identity
// there and lets 28×28 (or any) inputs work. Unlike labml, a convolution has a bias only when the
// norm is none (a norm's β absorbs it). Channels are scaled by ModelOptions::width (1/4 for CPU
// runs). features is one flat Sequential, as labml's: features.0 conv, .1 norm, .2 ReLU, .3 conv,
// .4 norm, .5 ReLU, .6 pool, .7 conv, …, .43 pool; the norm none is an Identity, so indices are
// fixed.
#pragma once

#include <memory>

#include "core/rng.h"
#include "layers/module.h"
#include "models/model.h"

namespace normlab {

std::unique_ptr<Module> make_vgg(const ModelOptions& options, Rng& rng);

}  // namespace normlab
