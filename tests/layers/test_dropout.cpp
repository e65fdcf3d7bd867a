// Dropout: inverted scaling, seeded reproducibility, eval identity, p = 0 and p = 1, gradient
// equal to the saved mask (gradcheck with a fixed mask), errors.
#include <catch2/catch.hpp>

#include "core/error.h"
#include "layers/dropout.h"
#include "tests/layers/layer_test_helpers.h"

using namespace normlab;
using namespace normlab::test;

TEST_CASE("dropout zeroes about p and scales the rest by 1/(1-p)", "[dropout]") {
  Dropout d(0.25, 1234);
  const Tensor x = Tensor::ones({100, 100}, DType::f64);
  const Tensor y = d.forward(Variable(x)).data();
  std::int64_t zeros = 0;
  for (std::int64_t i = 0; i < y.numel(); ++i) {
    const double v = y.view({-1}).get({i});
    REQUIRE((v == 0.0 || v == Approx(1.0 / 0.75)));
    zeros += v == 0.0 ? 1 : 0;
  }
  REQUIRE(zeros == Approx(2500).margin(200));  // 4.6 standard deviations
  REQUIRE(sum_all(y) == Approx(10000).epsilon(0.03));
}

TEST_CASE("dropout is reproducible from its seed and identity in eval", "[dropout]") {
  Rng rng(5);
  const Tensor x = randn({4, 8}, DType::f32, rng);
  Dropout a(0.5, 99), b(0.5, 99);
  REQUIRE(max_abs_diff(a.forward(Variable(x)).data(), b.forward_no_grad(x)) == 0.0);
  REQUIRE(max_abs_diff(a.forward(Variable(x)).data(), a.forward(Variable(x)).data()) > 0.0);
  a.eval();
  REQUIRE(a.forward_no_grad(x).shares_storage(x));
  REQUIRE(max_abs_diff(a.forward(Variable(x)).data(), x) == 0.0);
  Dropout none(0.0, 1), all(1.0, 1);
  REQUIRE(max_abs_diff(none.forward_no_grad(x), x) == 0.0);
  REQUIRE(max_abs(all.forward_no_grad(x)) == 0.0);
}

TEST_CASE("dropout backward is the saved mask", "[dropout][gradcheck]") {
  const double p = GENERATE(0.3, 0.9, 1.0);
  CAPTURE(p);
  Rng data(3);
  const Variable x = leaf({3, 5, 4}, data);
  // A fresh generator with the same seed per call, so every evaluation draws the same mask.
  const auto f = [p](const std::vector<Variable>& in) {
    Rng rng(77);
    return dropout(in[0], p, true, rng);
  };
  require_gradcheck(f, {x});
  Dropout d(0.5, 8);
  const Variable x2 = leaf({6, 6}, data);
  const Variable y = d.forward(x2);
  y.backward(Tensor::ones(y.shape(), DType::f64));
  // dx = m/(1 − p) = y/x elementwise.
  for (std::int64_t i = 0; i < 36; ++i) {
    const double xi = x2.data().view({-1}).get({i});
    REQUIRE(x2.grad().view({-1}).get({i}) == Approx(y.data().view({-1}).get({i}) / xi));
  }
}

TEST_CASE("dropout rejects p outside [0, 1]", "[dropout][errors]") {
  REQUIRE_THROWS_AS(Dropout(1.5, 1), ValueError);
  REQUIRE_THROWS_WITH(Dropout(-0.1, 1), Catch::Contains("[0, 1]"));
  Rng rng(1);
  REQUIRE_THROWS_AS(dropout_forward(Tensor::zeros({2}, DType::u8), 0.5, true, rng), DTypeError);
  REQUIRE(Dropout(0.5, 1).to_string() == "Dropout(p=0.5)");
}
