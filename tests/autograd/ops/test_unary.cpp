// neg, exp, log, sqrt, pow, abs, relu, sigmoid, tanh: gradients against central differences over
// several shapes and a non-contiguous view, forward values by hand, float32, and errors.
#include <catch2/catch.hpp>
#include <cmath>

#include "autograd/ops.h"
#include "autograd/ops/unary.h"
#include "core/error.h"
#include "tests/test_helpers.h"

using namespace normlab;
using namespace normlab::test;
using Catch::Contains;

namespace {

using UnaryFn = std::function<Variable(const Variable&)>;

// Gradcheck of op over 1-D, 2-D, 3-D with size-1 dims, a 0-d scalar and a transposed view.
// Inputs are drawn from [lo, hi) when lo < hi (domains such as log), else standard normal.
void check_unary_gradients(const UnaryFn& op, double lo = 0.0, double hi = 0.0) {
  Rng rng(11);
  const auto f = [&op](const std::vector<Variable>& in) { return op(in[0]); };
  for (const Shape& s : {Shape{7}, Shape{3, 4}, Shape{2, 1, 3}, Shape{}}) {
    INFO("x: " << to_string(s));
    require_gradcheck(f, {lo < hi ? uniform_leaf(s, rng, lo, hi) : leaf(s, rng)});
  }
  require_gradcheck(f, {transposed_leaf({3, 5}, rng, lo, hi)});
}

}  // namespace

TEST_CASE("neg backward matches finite differences", "[neg][gradcheck]") {
  check_unary_gradients([](const Variable& x) { return neg(x); });
}
TEST_CASE("exp backward matches finite differences", "[exp][gradcheck]") {
  check_unary_gradients([](const Variable& x) { return exp(x); });
}
TEST_CASE("log backward matches finite differences", "[log][gradcheck]") {
  check_unary_gradients([](const Variable& x) { return log(x); }, 0.3, 3.0);
}
TEST_CASE("sqrt backward matches finite differences", "[sqrt][gradcheck]") {
  check_unary_gradients([](const Variable& x) { return sqrt(x); }, 0.3, 3.0);
}
TEST_CASE("pow backward matches finite differences", "[pow][gradcheck]") {
  const double p = GENERATE(2.0, 3.0, 0.5, -1.5, 1.0);
  CAPTURE(p);
  check_unary_gradients([p](const Variable& x) { return pow(x, p); }, 0.3, 3.0);
}
TEST_CASE("abs backward matches finite differences", "[abs][gradcheck]") {
  check_unary_gradients([](const Variable& x) { return abs(x); });
}
TEST_CASE("relu backward matches finite differences", "[relu][gradcheck]") {
  check_unary_gradients([](const Variable& x) { return relu(x); });
}
TEST_CASE("sigmoid backward matches finite differences", "[sigmoid][gradcheck]") {
  check_unary_gradients([](const Variable& x) { return sigmoid(x); });
}
TEST_CASE("tanh backward matches finite differences", "[tanh][gradcheck]") {
  check_unary_gradients([](const Variable& x) { return tanh(x); });
}

TEST_CASE("neg, exp, log, sqrt, pow, abs forward values by hand",
          "[neg][exp][log][sqrt][pow][abs]") {
  const Variable x(values({4}, {0.25, 1, 4, 9}));
  require_values(neg(x).data(), {4}, {-0.25, -1, -4, -9});
  require_values(exp(x).data(), {4}, {std::exp(0.25), std::exp(1.0), std::exp(4.0), std::exp(9.0)});
  require_values(log(x).data(), {4}, {std::log(0.25), 0, std::log(4.0), std::log(9.0)});
  require_values(sqrt(x).data(), {4}, {0.5, 1, 2, 3});
  require_values(pow(x, 2).data(), {4}, {0.0625, 1, 16, 81});
  require_values(pow(x, -0.5).data(), {4}, {2, 1, 0.5, 1.0 / 3});
  require_values(abs(Variable(values({3}, {-2, 0, 1.5}))).data(), {3}, {2, 0, 1.5});
}

TEST_CASE("relu, sigmoid, tanh forward values by hand", "[relu][sigmoid][tanh]") {
  const Variable x(values({5}, {-2, -0.5, 0, 0.5, 2}));
  require_values(relu(x).data(), {5}, {0, 0, 0, 0.5, 2});
  const auto sig = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
  require_values(sigmoid(x).data(), {5}, {sig(-2), sig(-0.5), 0.5, sig(0.5), sig(2)});
  require_values(tanh(x).data(), {5},
                 {std::tanh(-2.0), std::tanh(-0.5), 0, std::tanh(0.5), std::tanh(2.0)});
  // Saturated inputs stay finite: no e^800 overflow in sigmoid.
  require_values(sigmoid(Variable(values({2}, {-800, 800}))).data(), {2}, {0, 1});
}

TEST_CASE("abs and relu give gradient 0 at 0 and pow(x, 0) gives 0, as in PyTorch",
          "[abs][relu][pow]") {
  Variable x(values({3}, {-1, 0, 2}), true);
  abs(x).backward(Tensor::ones({3}, DType::f64));
  require_values(x.grad(), {3}, {-1, 0, 1});
  x.zero_grad();
  relu(x).backward(Tensor::ones({3}, DType::f64));
  require_values(x.grad(), {3}, {0, 0, 1});
  x.zero_grad();
  pow(x, 0).backward(Tensor::ones({3}, DType::f64));
  require_values(x.grad(), {3}, {0, 0, 0});
}

TEST_CASE("unary ops compute in float32 on strided views", "[exp][relu][tanh][sqrt]") {
  const Tensor base = values({2, 2}, {1, 4, 9, 16}, DType::f32);
  const Variable x(base.transpose(0, 1));  // [[1, 9], [4, 16]]
  const Variable y = sqrt(x);
  REQUIRE(y.dtype() == DType::f32);
  require_values(y.data(), {2, 2}, {1, 3, 2, 4}, 1e-6);
  require_values(relu(neg(x)).data(), {2, 2}, {0, 0, 0, 0}, 1e-6);
  require_values(exp(mul_scalar(x, 0.0)).data(), {2, 2}, {1, 1, 1, 1}, 1e-6);
}

TEST_CASE("unary ops reject integer tensors and mismatched backward shapes, naming the op",
          "[relu][exp][errors]") {
  const Variable i(Tensor::zeros({2, 3}, DType::i64));
  REQUIRE_THROWS_AS(relu(i), DTypeError);
  REQUIRE_THROWS_WITH(relu(i), Contains("relu") && Contains("int64"));
  REQUIRE_THROWS_WITH(exp(i), Contains("exp"));
  const Tensor dy = Tensor::zeros({2, 3}, DType::f64);
  const Tensor y = Tensor::zeros({3, 2}, DType::f64);
  REQUIRE_THROWS_AS(relu_backward(dy, y), ShapeError);
  REQUIRE_THROWS_WITH(relu_backward(dy, y),
                      Contains("relu_backward") && Contains("[2, 3]") && Contains("[3, 2]"));
  REQUIRE_THROWS_WITH(log_backward(dy, y),
                      Contains("log_backward") && Contains("[2, 3]") && Contains("[3, 2]"));
}
