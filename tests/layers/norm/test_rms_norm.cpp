// RMSNorm: gradcheck, PyTorch's default eps, values.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "autograd/gradcheck.h"
#include "core/error.h"
#include "layers/norm/rms_norm.h"
#include "tests/layers/norm/norm_test_util.h"

using namespace normlab;
using namespace normlab::test;

TEST_CASE("rms_norm backward matches central differences", "[rms_norm][gradcheck]") {
  const auto [shape, normalized, eps] = GENERATE(table<Shape, Shape, std::optional<double>>({
      {{3, 5}, {5}, 1e-6},
      {{2, 3, 2, 2}, {3, 2, 2}, 1e-6},
      {{1, 1}, {1}, 1e-6},          // a single value per row
      {{2, 3}, {3}, std::nullopt},  // machine epsilon
      {{2, 3}, {3}, 1.0},           // large eps
  }));
  CAPTURE(shape, normalized);
  Rng rng{61};
  RMSNorm rms(normalized, {.eps = eps, .dtype = DType::f64});
  randomize(rms.weight(), rng);
  auto f = [&n = normalized, e = eps](const std::vector<Variable>& in) {
    return rms_norm(in[0], n, in[1], e);
  };
  const GradcheckReport r = gradcheck(f, {randn_leaf(shape, rng, 0.5, 1.0), rms.weight()}, tight());
  INFO(r.worst());
  REQUIRE(r.ok());
}

TEST_CASE("rms_norm divides by the root mean square and has no bias", "[rms_norm]") {
  RMSNorm rms({2}, {.dtype = DType::f64});
  REQUIRE(rms.state_dict().size() == 1);
  const Tensor x = Tensor::from_vector({1, 2}, {3.0, 4.0}, DType::f64);
  const double r = std::sqrt(12.5 + std::numeric_limits<double>::epsilon());
  REQUIRE(rms.forward_no_grad(x).get({0, 0}) == Approx(3.0 / r).epsilon(1e-14));
  REQUIRE(rms.forward_no_grad(x).get({0, 1}) == Approx(4.0 / r).epsilon(1e-14));
  REQUIRE(rms.to_string() == "RMSNorm((2,), eps=None, elementwise_affine=True)");
  REQUIRE_THROWS_AS(rms.forward_no_grad(Tensor::ones({2, 3}, DType::f64)), ShapeError);
  REQUIRE_THROWS_AS(RMSNorm({2}, {.eps = -1.0}), ValueError);
}
