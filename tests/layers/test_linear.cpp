// Linear: float64 gradcheck of input, weight and bias (2-D, 3-D and 1-D inputs, with and without
// bias), a hand-computed forward, PyTorch's default init bounds, and errors.
#include <catch2/catch.hpp>

#include "core/error.h"
#include "layers/linear.h"
#include "tests/layers/layer_test_helpers.h"

using namespace normlab;
using namespace normlab::test;
using Catch::Contains;

TEST_CASE("linear backward matches central differences", "[linear][gradcheck]") {
  const auto [x_shape, O, bias] = GENERATE(table<Shape, std::int64_t, bool>({
      {Shape{4, 5}, 3, true},
      {Shape{2, 3, 5}, 4, true},  // leading dims are rows
      {Shape{5}, 2, false},       // a single vector
      {Shape{1, 1}, 1, true},
      {Shape{3, 2}, 6, false},
  }));
  CAPTURE(to_string(x_shape), O, bias);
  Rng rng(17);
  Linear layer(x_shape.back(), O, rng, {.bias = bias, .dtype = DType::f64});
  require_module_gradcheck(layer, leaf(x_shape, rng));
}

TEST_CASE("linear forward by hand", "[linear]") {
  // y = x Wᵀ + b with x = [[1, 2]], W = [[1, 0], [2, -1], [0.5, 0.5]], b = [0, 1, -1]
  const Tensor x = Tensor::from_vector({1, 2}, {1, 2}, DType::f64);
  const Tensor w = Tensor::from_vector({3, 2}, {1, 0, 2, -1, 0.5, 0.5}, DType::f64);
  const Tensor b = Tensor::from_vector({3}, {0, 1, -1}, DType::f64);
  const Tensor y = linear_forward(x, w, b);
  REQUIRE(y.shape() == Shape{1, 3});
  REQUIRE(y.get({0, 0}) == 1.0);
  REQUIRE(y.get({0, 1}) == 1.0);
  REQUIRE(y.get({0, 2}) == 0.5);
  REQUIRE(linear_forward(x, w, Tensor()).get({0, 2}) == 1.5);
}

TEST_CASE("Linear module: default init bounds, forward_no_grad equals forward, repr", "[linear]") {
  Rng rng(2);
  Linear layer(64, 32, rng);
  const double bound = 1.0 / 8.0;  // 1/√in_features
  REQUIRE(max_abs(layer.weight().data()) <= bound);
  REQUIRE(max_abs(layer.weight().data()) > 0.95 * bound);
  REQUIRE(max_abs(layer.bias().data()) <= bound);
  REQUIRE(layer.num_parameters() == 64 * 32 + 32);
  const Tensor x = randn({5, 64}, DType::f32, rng);
  REQUIRE(max_abs_diff(layer.forward_no_grad(x), layer.forward(Variable(x)).data()) == 0.0);
  REQUIRE(layer.to_string() == "Linear(in_features=64, out_features=32, bias=True)");
  Rng a(7), b(7);
  Linear l1(3, 4, a), l2(3, 4, b);
  REQUIRE(max_abs_diff(l1.weight().data(), l2.weight().data()) == 0.0);  // seeded
}

TEST_CASE("linear errors name the op and every shape", "[linear][errors]") {
  Rng rng(1);
  const Variable x(Tensor::zeros({8, 3}));
  const Variable w(Tensor::zeros({16, 4}));
  REQUIRE_THROWS_AS(linear(x, w, Variable()), ShapeError);
  REQUIRE_THROWS_WITH(linear(x, w, Variable()),
                      "linear: input has 3 features but weight expects 4 (x: [8, 3], w: [16, 4])");
  REQUIRE_THROWS_WITH(linear(Variable(Tensor::zeros({8, 4})), w, Variable(Tensor::zeros({15}))),
                      Contains("bias must have shape [16]") && Contains("b: [15]"));
  REQUIRE_THROWS_AS(linear(Variable(Tensor::zeros({8, 4}, DType::f64)), w, Variable()), DTypeError);
  REQUIRE_THROWS_AS(linear(x, Variable(Tensor::zeros({3})), Variable()), ShapeError);
  REQUIRE_THROWS_AS(Linear(0, 3, rng), ValueError);
  REQUIRE_THROWS_AS(Linear(3, 3, rng, {.dtype = DType::u8}), DTypeError);
}
