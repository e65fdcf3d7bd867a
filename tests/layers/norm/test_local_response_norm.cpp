// LocalResponseNorm: gradcheck over odd and even windows, values against the formula.
#include <catch2/catch.hpp>
#include <cmath>

#include "autograd/gradcheck.h"
#include "core/error.h"
#include "layers/norm/local_response_norm.h"
#include "tests/layers/norm/norm_test_util.h"

using namespace normlab;
using namespace normlab::test;

TEST_CASE("local_response_norm backward matches central differences",
          "[local_response_norm][gradcheck]") {
  const auto [shape, size, alpha, beta, k] = GENERATE(table<Shape, int, double, double, double>({
      {{2, 5, 2, 2}, 3, 0.5, 0.75, 1.0},  // odd window, a large alpha so the window matters
      {{2, 6, 3}, 2, 1.0, 0.75, 2.0},     // even window: asymmetric, 3-D input
      {{1, 3, 1, 1}, 5, 2.0, 0.5, 1.0},   // window wider than C
      {{2, 4, 2}, 1, 1e-4, 0.75, 1.0},    // PyTorch's defaults, window of one channel
  }));
  CAPTURE(shape, size, alpha, beta, k);
  Rng rng{71};
  auto f = [n = size, a = alpha, b = beta, kk = k](const std::vector<Variable>& in) {
    return local_response_norm(in[0], n, {.alpha = a, .beta = b, .k = kk});
  };
  const GradcheckReport r = gradcheck(f, {randn_leaf(shape, rng, 0.0, 1.5)}, tight());
  INFO(r.worst());
  REQUIRE(r.ok());
}

TEST_CASE("local_response_norm sums squares over PyTorch's window", "[local_response_norm]") {
  // size 4: the window of channel c is [c − 2, c + 1], divided by 4 even at the edges.
  const Tensor x = Tensor::from_vector({1, 5, 1}, {1, 2, 3, 4, 5}, DType::f64);
  LocalResponseNorm lrn(4, {.alpha = 0.4, .beta = 0.5, .k = 2.0});
  const Tensor y = lrn.forward_no_grad(x);
  const double sq[5] = {1, 4, 9, 16, 25};
  for (int c = 0; c < 5; ++c) {
    double s = 0.0;
    for (int j = std::max(0, c - 2); j <= std::min(4, c + 1); ++j) {
      s += sq[j];
    }
    REQUIRE(y.get({0, c, 0}) == Approx((c + 1) / std::sqrt(2.0 + 0.1 * s)).epsilon(1e-14));
  }
  REQUIRE_THROWS_AS(lrn.forward_no_grad(Tensor::ones({2, 3})), ShapeError);
  REQUIRE_THROWS_AS(LocalResponseNorm(0), ValueError);
  REQUIRE(lrn.parameters().empty());
}
