// layers/init.h: parameter initialisation, with PyTorch's formulas (torch.nn.init).
//   fan_in = size(1)·∏size(2:), fan_out = size(0)·∏size(2:)             (weights are (out, in,
//   ...)) gain: linear/conv/sigmoid 1, tanh 5/3, relu √2, leaky_relu √(2 / (1 + a²)) kaiming (He et
//   al. 2015, arXiv:1502.01852):  std = gain / √fan,  uniform bound = √3 · std xavier (Glorot &
//   Bengio 2010):               std = gain · √(2 / (fan_in + fan_out)), bound = √3 · std
// Default init of Linear and Conv2d (reset_parameters): kaiming_uniform(a = √5) on the weight,
// which is U(−1/√fan_in, 1/√fan_in), and U(−1/√fan_in, 1/√fan_in) on the bias. Every random
// initialiser takes the Rng it draws from; there is no global generator.
#pragma once

#include <cstdint>

#include "core/rng.h"
#include "core/tensor.h"

namespace normlab {

enum class Nonlinearity : std::uint8_t { linear, sigmoid, tanh, relu, leaky_relu };
enum class FanMode : std::uint8_t { fan_in, fan_out };

struct Fans {
  std::int64_t fan_in = 0, fan_out = 0;
};
// ValueError for a tensor with fewer than 2 dimensions (as PyTorch).
Fans compute_fans(const Shape& shape);
// negative_slope is only read for leaky_relu.
double calculate_gain(Nonlinearity nonlinearity, double negative_slope = 0.01);

void uniform_(Tensor& t, Rng& rng, double lo, double hi);
void normal_(Tensor& t, Rng& rng, double mean, double std);
void zeros_(Tensor& t);
void ones_(Tensor& t);

// PyTorch defaults: a = 0, mode fan_in, nonlinearity leaky_relu (so gain √2).
void kaiming_uniform_(Tensor& w, Rng& rng, double a = 0.0, FanMode mode = FanMode::fan_in,
                      Nonlinearity nonlinearity = Nonlinearity::leaky_relu);
void kaiming_normal_(Tensor& w, Rng& rng, double a = 0.0, FanMode mode = FanMode::fan_in,
                     Nonlinearity nonlinearity = Nonlinearity::leaky_relu);
void xavier_uniform_(Tensor& w, Rng& rng, double gain = 1.0);
void xavier_normal_(Tensor& w, Rng& rng, double gain = 1.0);

// torch.nn.Linear/Conv2d reset_parameters. weight: (out, in, ...); bias: (out) or undefined.
void default_layer_init_(Tensor& weight, Tensor& bias, Rng& rng);

}  // namespace normlab
