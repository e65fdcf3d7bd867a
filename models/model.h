// models/model.h: the closed list of models, their name table, ModelOptions and make_model, the one
// place that turns a ModelKind into a network. Every model takes any NormKind (the normalization
// after each convolution), any input channels and square image size, and a channel multiplier:
//   tiny      3 × [conv3×3 – norm – ReLU – max-pool 2] with 32, 64, 128 channels, global average
//             pool, Linear(128 → classes)                                  (models/tiny_cnn.h)
//   vgg       labml's CIFAR-10 VGG: 13 conv3×3 – norm – ReLU in 5 blocks of 64 … 512 channels, a
//             max-pool after each block, global average pool, Linear(512 → classes) (models/vgg.h)
//   resnet20  He et al.'s CIFAR ResNet-20 (arXiv:1512.03385, section 4.2): stem, 3 stages of 3
//             basic blocks with 16, 32, 64 channels, global average pool, Linear(64 → classes)
//             (models/resnet20.h)
// Parameter and buffer names are PyTorch's for the same layout (tools/torch_models.py builds the
// twin with identical names and shapes), so checkpoints load into PyTorch with strict=True.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>

#include "core/rng.h"
#include "layers/module.h"
#include "layers/norm/norm_kind.h"

namespace normlab {

enum class ModelKind : std::uint8_t { tiny, vgg, resnet20 };
inline constexpr std::size_t kNumModelKinds = 3;

std::string_view model_kind_name(ModelKind kind);  // "tiny", "vgg", "resnet20"
// ValueError naming the unknown name and listing the valid ones.
ModelKind parse_model_kind(std::string_view name);
std::span<const ModelKind> all_model_kinds();  // in enum order

struct ModelOptions {
  NormKind norm = NormKind::group;
  // num_groups, eps, momentum of every norm layer, and the dtype of the whole model (convolutions,
  // norms and the classifier).
  NormOptions norm_options{};
  // > 0: every grouped norm (group, batch_channel, ws_group) gets C / group_size groups for its C
  // channels instead of norm_options.num_groups (the GN paper's fixed channels per group, Table 3);
  // a layer whose C is not a multiple is a ValueError naming it.
  std::int64_t group_size = 0;
  std::int64_t in_channels = 1;
  std::int64_t image_size = 28;  // square inputs: H = W = image_size
  std::int64_t num_classes = 10;
  // Channel multiplier: every layer's channels are max(1, round(c·width)) (vgg at 1/4 for CPU
  // runs).
  double width = 1.0;
  // resnet20 only: γ of the last norm in each residual block's body starts at 0, so every block
  // starts as the identity (Goyal et al. 2017, arXiv:1706.02677; the GN paper's ResNet recipe).
  // For batch_channel the zeroed γ is the channel norm's (the affine applied last).
  bool zero_init_last_gamma = false;
  // Every normalization layer the builder creates (not the Identity that stands for none) is
  // passed through wrap_norm before it is registered; the training driver wraps norms to record
  // statistics. Null: no wrapping. Returning null is a ValueError.
  std::function<std::unique_ptr<Module>(std::unique_ptr<Module> norm)> wrap_norm;
};

// Builds the model. Initialisation, the same for the three models (torchvision's ResNet recipe):
//   conv weights  Kaiming normal, mode fan_out, gain √2 (relu): std = √2 / √(O·kH·kW)
//   conv biases   0 (convolutions have a bias only when the norm is none: otherwise β absorbs it)
//   norm γ, β     1, 0 (each layer's own default)
//   Linear        PyTorch's default, U(±1/√in) for the weight and the bias
// Draws from rng in a fixed order, so a seed gives the same model every time.
// ValueError for a non-positive in_channels, image_size or num_classes, a width that is not
// positive and finite, or a model whose instance norm would see a 1×1 feature map (InstanceNorm
// cannot train on a single spatial element; the message names the layer and the image size).
std::unique_ptr<Module> make_model(ModelKind kind, const ModelOptions& options, Rng& rng);

}  // namespace normlab
