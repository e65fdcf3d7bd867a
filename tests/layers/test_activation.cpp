// ReLU, LeakyReLU, GELU modules: float64 gradcheck over several shapes, hand-computed values,
// forward_no_grad equal to forward, errors.
#include <catch2/catch.hpp>
#include <cmath>

#include "core/error.h"
#include "layers/activation.h"
#include "tests/layers/layer_test_helpers.h"

using namespace normlab;
using namespace normlab::test;

TEST_CASE("activation backwards match central differences", "[activation][gradcheck]") {
  ReLU relu_layer;
  LeakyReLU leaky_default;
  LeakyReLU leaky(0.2);
  LeakyReLU leaky_negative(-0.5);
  GELU gelu_layer;
  for (Module* m :
       std::vector<Module*>{&relu_layer, &leaky_default, &leaky, &leaky_negative, &gelu_layer}) {
    for (const Shape& s : {Shape{7}, Shape{2, 3, 4, 4}, Shape{1, 1}, Shape{}}) {
      CAPTURE(m->to_string(), to_string(s));
      Rng rng(23);
      require_module_gradcheck(*m, leaf(s, rng));
    }
  }
}

TEST_CASE("activation values by hand", "[activation]") {
  const Tensor x = Tensor::from_vector({5}, {-2, -0.5, 0, 1, 3}, DType::f64);
  const Tensor lr = leaky_relu_forward(x, 0.1);
  REQUIRE(lr.get({0}) == Approx(-0.2));
  REQUIRE(lr.get({2}) == 0.0);
  REQUIRE(lr.get({4}) == 3.0);
  // GELU(x) = x·Φ(x): Φ(1) = 0.8413447460685429, Φ(−0.5) = 0.3085375387259869
  const Tensor g = gelu_forward(x);
  REQUIRE(g.get({3}) == Approx(0.8413447460685429).epsilon(1e-15));
  REQUIRE(g.get({1}) == Approx(-0.5 * 0.3085375387259869).epsilon(1e-15));
  REQUIRE(g.get({2}) == 0.0);
  ReLU r;
  REQUIRE(r.forward_no_grad(x).get({1}) == 0.0);
  REQUIRE(r.forward_no_grad(x).get({3}) == 1.0);
  // LeakyReLU's slope at exactly 0 is a (PyTorch: x > 0 takes the identity branch).
  const Variable z(Tensor::zeros({1}, DType::f64), true);
  leaky_relu(z, 0.3).backward(Tensor::ones({1}, DType::f64));
  REQUIRE(z.grad().get({0}) == Approx(0.3));
}

TEST_CASE("activation modules: forward_no_grad equals forward, repr, errors",
          "[activation][errors]") {
  Rng rng(2);
  const Tensor x = randn({3, 4}, DType::f32, rng);
  ReLU r;
  LeakyReLU l(0.05);
  GELU g;
  for (Module* m : std::vector<Module*>{&r, &l, &g}) {
    REQUIRE(max_abs_diff(m->forward_no_grad(x), m->forward(Variable(x)).data()) == 0.0);
  }
  REQUIRE(l.to_string() == "LeakyReLU(negative_slope=0.05)");
  REQUIRE(g.to_string() == "GELU()");
  REQUIRE_THROWS_AS(LeakyReLU(std::nan("")), ValueError);
  REQUIRE_THROWS_AS(gelu_forward(Tensor::zeros({2}, DType::i32)), DTypeError);
  REQUIRE_THROWS_AS(leaky_relu_forward(Tensor(), 0.1), ValueError);
}
