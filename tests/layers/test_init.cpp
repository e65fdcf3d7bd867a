// Initialisers: fans and gains as torch.nn.init computes them, the bounds and standard deviations
// of kaiming/xavier fills (checked statistically with fixed seeds), seeding, and errors.
#include <catch2/catch.hpp>
#include <cmath>

#include "core/error.h"
#include "core/tensor_math.h"
#include "layers/init.h"

using namespace normlab;

namespace {

double sample_std(const Tensor& t) {
  const double n = static_cast<double>(t.numel());
  const double mean = sum_all(t) / n;
  double ss = 0.0;
  const Tensor flat = t.to(DType::f64).reshape({-1});
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    ss += (flat.get({i}) - mean) * (flat.get({i}) - mean);
  }
  return std::sqrt(ss / n);
}

}  // namespace

TEST_CASE("fans and gains follow torch.nn.init", "[init]") {
  const Fans conv = compute_fans({16, 8, 3, 3});
  REQUIRE(conv.fan_in == 72);
  REQUIRE(conv.fan_out == 144);
  const Fans lin = compute_fans({10, 20});
  REQUIRE(lin.fan_in == 20);
  REQUIRE(lin.fan_out == 10);
  REQUIRE_THROWS_AS(compute_fans({5}), ValueError);
  REQUIRE(calculate_gain(Nonlinearity::linear) == 1.0);
  REQUIRE(calculate_gain(Nonlinearity::sigmoid) == 1.0);
  REQUIRE(calculate_gain(Nonlinearity::tanh) == Approx(5.0 / 3.0));
  REQUIRE(calculate_gain(Nonlinearity::relu) == Approx(std::sqrt(2.0)));
  REQUIRE(calculate_gain(Nonlinearity::leaky_relu, 0.0) == Approx(std::sqrt(2.0)));
  REQUIRE(calculate_gain(Nonlinearity::leaky_relu, std::sqrt(5.0)) == Approx(std::sqrt(1.0 / 3.0)));
}

TEST_CASE("kaiming and xavier fills have the stated bounds and spread", "[init]") {
  Rng rng(31);
  Tensor w = Tensor::empty({64, 32, 3, 3}, DType::f32);  // fan_in 288, fan_out 576
  kaiming_uniform_(w, rng);  // a = 0, leaky_relu: bound = √2·√3/√288 = √6/√288
  const double bound = std::sqrt(6.0 / 288.0);
  REQUIRE(max_abs(w) <= bound);
  REQUIRE(max_abs(w) > 0.99 * bound);
  REQUIRE(sample_std(w) == Approx(bound / std::sqrt(3.0)).epsilon(0.02));

  kaiming_normal_(w, rng, 0.0, FanMode::fan_out, Nonlinearity::relu);
  REQUIRE(sample_std(w) == Approx(std::sqrt(2.0 / 576.0)).epsilon(0.02));
  REQUIRE(std::abs(sum_all(w) / static_cast<double>(w.numel())) < 0.002);

  xavier_uniform_(w, rng);  // bound = √6/√(fan_in + fan_out)
  REQUIRE(max_abs(w) <= std::sqrt(6.0 / 864.0));
  REQUIRE(max_abs(w) > 0.99 * std::sqrt(6.0 / 864.0));
  xavier_normal_(w, rng, 2.0);
  REQUIRE(sample_std(w) == Approx(2.0 * std::sqrt(2.0 / 864.0)).epsilon(0.02));

  zeros_(w);
  REQUIRE(max_abs(w) == 0.0);
  ones_(w);
  REQUIRE(sum_all(w) == static_cast<double>(w.numel()));
}

TEST_CASE("default layer init is U(-1/sqrt(fan_in), 1/sqrt(fan_in)) and seeded", "[init]") {
  Rng a(5), b(5);
  Tensor w1 = Tensor::empty({50, 40}, DType::f64), b1 = Tensor::empty({50}, DType::f64);
  Tensor w2 = Tensor::empty({50, 40}, DType::f64), b2 = Tensor::empty({50}, DType::f64);
  default_layer_init_(w1, b1, a);
  default_layer_init_(w2, b2, b);
  REQUIRE(max_abs_diff(w1, w2) == 0.0);
  REQUIRE(max_abs_diff(b1, b2) == 0.0);
  const double bound = 1.0 / std::sqrt(40.0);
  REQUIRE(max_abs(w1) <= bound);
  REQUIRE(max_abs(w1) > 0.99 * bound);
  REQUIRE(max_abs(b1) <= bound);
  Tensor none;
  default_layer_init_(w1, none, a);  // no bias is fine
  REQUIRE_FALSE(none.defined());
}
