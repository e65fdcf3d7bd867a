// LayerNorm: gradcheck over trailing shapes, the elementwise affine, errors.
#include <catch2/catch.hpp>

#include "autograd/gradcheck.h"
#include "core/error.h"
#include "core/tensor_math.h"
#include "layers/norm/layer_norm.h"
#include "tests/layers/norm/norm_test_util.h"

using namespace normlab;
using namespace normlab::test;

TEST_CASE("layer_norm backward matches central differences", "[layer_norm][gradcheck]") {
  const auto [shape, normalized, eps] = GENERATE(table<Shape, Shape, double>({
      {{3, 5}, {5}, 1e-5},              // (N, D), D not a power of two
      {{2, 3, 4}, {4}, 1e-5},           // a sequence: (N, L, D)
      {{2, 3, 2, 2}, {3, 2, 2}, 1e-5},  // over (C, H, W)
      {{1, 2, 1, 1}, {2, 1, 1}, 1e-5},  // N = 1, H = W = 1, m = 2
      {{4, 3}, {3}, 1e-12},             // small eps
      {{4, 3}, {3}, 1.0},               // large eps
      {{2, 1}, {1}, 1e-5},              // m = 1: x̂ = 0, y = β
  }));
  CAPTURE(shape, normalized, eps);
  Rng rng{41};
  LayerNorm ln(normalized, {.eps = eps, .dtype = DType::f64});
  randomize(ln.weight(), rng);
  randomize(ln.bias(), rng, 0.0);
  auto f = [&n = normalized, e = eps](const std::vector<Variable>& in) {
    return layer_norm(in[0], n, in[1], in[2], e);
  };
  const GradcheckReport r =
      gradcheck(f, {randn_leaf(shape, rng, -2.0, 3.0), ln.weight(), ln.bias()}, tight());
  INFO(r.worst());
  REQUIRE(r.ok());
}

TEST_CASE("layer_norm without affine matches central differences and has no parameters",
          "[layer_norm][gradcheck]") {
  Rng rng{42};
  LayerNorm ln({3, 2}, {.elementwise_affine = false, .dtype = DType::f64});
  REQUIRE(ln.parameters().empty());
  auto f = [&](const std::vector<Variable>& in) { return ln.forward(in[0]); };
  const GradcheckReport r = gradcheck(f, {randn_leaf({2, 3, 2}, rng)}, tight());
  INFO(r.worst());
  REQUIRE(r.ok());
}

TEST_CASE("layer_norm normalizes every row and applies an elementwise affine", "[layer_norm]") {
  LayerNorm ln({2});
  ln.weight().data().copy_(Tensor::from_vector({2}, {2.0, 3.0}));
  ln.bias().data().copy_(Tensor::from_vector({2}, {0.5, -0.5}));
  const Tensor x = Tensor::from_vector({2, 2}, {1.0, 3.0, 10.0, 6.0});
  const Tensor y = ln.forward_no_grad(x);
  const double a = 1.0 / std::sqrt(1.0 + 1e-5), b = 2.0 / std::sqrt(4.0 + 1e-5);
  REQUIRE(y.get({0, 0}) == Approx(2.0 * -a + 0.5).epsilon(1e-6));
  REQUIRE(y.get({0, 1}) == Approx(3.0 * a - 0.5).epsilon(1e-6));
  REQUIRE(y.get({1, 0}) == Approx(2.0 * b * 2.0 / 2.0 + 0.5).epsilon(1e-6));
  REQUIRE(y.get({1, 1}) == Approx(3.0 * -b - 0.5).epsilon(1e-6));
  REQUIRE(ln.to_string() == "LayerNorm((2,), eps=1e-05, elementwise_affine=True)");
}

TEST_CASE("layer_norm rejects an input that does not end with normalized_shape",
          "[layer_norm][errors]") {
  LayerNorm ln({4, 4});
  REQUIRE_THROWS_AS(ln.forward_no_grad(Tensor::ones({2, 4, 3})), ShapeError);
  REQUIRE_THROWS_WITH(ln.forward_no_grad(Tensor::ones({2, 4, 3})),
                      Catch::Contains("[4, 4]") && Catch::Contains("[2, 4, 3]"));
  REQUIRE_THROWS_AS(LayerNorm(Shape{}), ValueError);
  REQUIRE_THROWS_AS(ln.forward_no_grad(Tensor::ones({4, 4}, DType::i64)), DTypeError);
}
