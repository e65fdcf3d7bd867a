// layers/init.cpp: torch.nn.init's formulas over core/random.h's fills.
#include "layers/init.h"

#include <fmt/format.h>

#include <cmath>

#include "core/error.h"
#include "core/random.h"

namespace normlab {

Fans compute_fans(const Shape& shape) {
  if (shape.size() < 2) {
    throw ValueError(
        fmt::format("init: fan in and fan out need a tensor with at least 2 dimensions (w: {})",
                    to_string(shape)));
  }
  const std::int64_t receptive = numel_from(shape, 2);
  return {.fan_in = shape[1] * receptive, .fan_out = shape[0] * receptive};
}

double calculate_gain(Nonlinearity nonlinearity, double negative_slope) {
  switch (nonlinearity) {
    case Nonlinearity::linear:
    case Nonlinearity::sigmoid:
      return 1.0;
    case Nonlinearity::tanh:
      return 5.0 / 3.0;
    case Nonlinearity::relu:
      return std::sqrt(2.0);
    case Nonlinearity::leaky_relu:
      return std::sqrt(2.0 / (1.0 + negative_slope * negative_slope));
  }
  return 1.0;  // unreachable: every enumerator returns
}

void uniform_(Tensor& t, Rng& rng, double lo, double hi) {
  fill_uniform_(t, rng, lo, hi);
}
void normal_(Tensor& t, Rng& rng, double mean, double std) {
  fill_normal_(t, rng, mean, std);
}
void zeros_(Tensor& t) {
  t.fill_(0.0);
}
void ones_(Tensor& t) {
  t.fill_(1.0);
}

namespace {
// std = gain / √fan; a zero fan (an empty tensor) has nothing to fill.
double kaiming_std(const Tensor& w, double a, FanMode mode, Nonlinearity nonlinearity) {
  const Fans fans = compute_fans(w.shape());
  const std::int64_t fan = mode == FanMode::fan_in ? fans.fan_in : fans.fan_out;
  if (fan == 0) {
    return 0.0;
  }
  return calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan));
}
double xavier_std(const Tensor& w, double gain) {
  const Fans fans = compute_fans(w.shape());
  const std::int64_t sum = fans.fan_in + fans.fan_out;
  return sum == 0 ? 0.0 : gain * std::sqrt(2.0 / static_cast<double>(sum));
}
}  // namespace

void kaiming_uniform_(Tensor& w, Rng& rng, double a, FanMode mode, Nonlinearity nonlinearity) {
  const double bound = std::sqrt(3.0) * kaiming_std(w, a, mode, nonlinearity);
  uniform_(w, rng, -bound, bound);
}

void kaiming_normal_(Tensor& w, Rng& rng, double a, FanMode mode, Nonlinearity nonlinearity) {
  normal_(w, rng, 0.0, kaiming_std(w, a, mode, nonlinearity));
}

void xavier_uniform_(Tensor& w, Rng& rng, double gain) {
  const double bound = std::sqrt(3.0) * xavier_std(w, gain);
  uniform_(w, rng, -bound, bound);
}

void xavier_normal_(Tensor& w, Rng& rng, double gain) {
  normal_(w, rng, 0.0, xavier_std(w, gain));
}

void default_layer_init_(Tensor& weight, Tensor& bias, Rng& rng) {
  kaiming_uniform_(weight, rng, std::sqrt(5.0));
  if (bias.defined()) {
    const std::int64_t fan_in = compute_fans(weight.shape()).fan_in;
    const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
    uniform_(bias, rng, -bound, bound);
  }
}

}  // namespace normlab
