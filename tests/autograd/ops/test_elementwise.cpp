// add, sub, mul, div (with broadcasting), add_scalar and mul_scalar: gradients against central
// differences, forward values computed by hand, and errors that name the op and both shapes.
#include <catch2/catch.hpp>

#include "autograd/ops.h"
#include "autograd/ops/elementwise.h"
#include "core/error.h"
#include "tests/test_helpers.h"

using namespace normlab;
using namespace normlab::test;
using Catch::Contains;

namespace {

using BinaryOp = Variable (*)(const Variable&, const Variable&);

struct ShapePair {
  Shape a, b;
};

const std::vector<ShapePair> kPairs = {
    {{3, 4}, {3, 4}},        // equal shapes: the contiguous fast path
    {{3, 1}, {1, 4}},        // both operands broadcast
    {{2, 3, 4}, {4}},        // missing leading dims
    {{2, 1, 4}, {3, 1}},     // size-1 dims on both sides, rank differs
    {{1}, {2, 3}},           // one element against a matrix
    {{}, {2, 2}},            // a 0-d scalar
    {{2, 3, 1}, {2, 3, 1}},  // trailing size-1 dim
};

// Gradcheck of op over every shape pair, over non-contiguous leaves, and with one constant operand.
void check_binary_gradients(BinaryOp op, bool positive_b) {
  Rng rng(7);
  const auto f = [op](const std::vector<Variable>& in) { return op(in[0], in[1]); };
  const auto make_b = [&](const Shape& s) {
    return positive_b ? uniform_leaf(s, rng, 0.5, 2.0) : leaf(s, rng);
  };
  for (const auto& [sa, sb] : kPairs) {
    INFO("a: " << to_string(sa) << ", b: " << to_string(sb));
    require_gradcheck(f, {leaf(sa, rng), make_b(sb)});
    require_gradcheck(f, {make_b(sb), leaf(sa, rng)});  // swapped roles, b possibly broadcast
  }
  // Transposed views, equal shapes and broadcast against a transposed view.
  const Variable ta = transposed_leaf({3, 4}, rng);
  const Variable tb =
      positive_b ? transposed_leaf({3, 4}, rng, 0.5, 2.0) : transposed_leaf({3, 4}, rng);
  require_gradcheck(f, {ta, tb});
  require_gradcheck(f, {ta, make_b({4})});
  // A constant operand receives nothing; the other still gets its gradient.
  const Variable constant(randn({1, 4}, DType::f64, rng, 1.5, 0.1), false);
  require_gradcheck(f, {leaf({3, 4}, rng), constant});
}

}  // namespace

TEST_CASE("add backward matches finite differences", "[add][gradcheck]") {
  check_binary_gradients(add, false);
}
TEST_CASE("sub backward matches finite differences", "[sub][gradcheck]") {
  check_binary_gradients(sub, false);
}
TEST_CASE("mul backward matches finite differences", "[mul][gradcheck]") {
  check_binary_gradients(mul, false);
}
TEST_CASE("div backward matches finite differences", "[div][gradcheck]") {
  check_binary_gradients(div, true);
}

TEST_CASE("add_scalar and mul_scalar backward match finite differences",
          "[add_scalar][mul_scalar][gradcheck]") {
  Rng rng(8);
  for (const Shape& s : {Shape{}, Shape{5}, Shape{2, 1, 3}}) {
    require_gradcheck([](const auto& in) { return add_scalar(in[0], 2.5); }, {leaf(s, rng)});
    require_gradcheck([](const auto& in) { return mul_scalar(in[0], -1.75); }, {leaf(s, rng)});
  }
  require_gradcheck([](const auto& in) { return mul_scalar(in[0], 3.0); },
                    {transposed_leaf({2, 3}, rng)});
}

TEST_CASE("add forward broadcasts (3,1) + (1,4) and its backward sums over broadcast axes",
          "[add]") {
  const Variable a(values({3, 1}, {1, 2, 3}), true);
  const Variable b(values({1, 4}, {10, 20, 30, 40}), true);
  const Variable y = add(a, b);
  require_values(y.data(), {3, 4}, {11, 21, 31, 41, 12, 22, 32, 42, 13, 23, 33, 43});
  y.backward(Tensor::ones({3, 4}, DType::f64));
  require_values(a.grad(), {3, 1}, {4, 4, 4});
  require_values(b.grad(), {1, 4}, {3, 3, 3, 3});
}

TEST_CASE("sub, mul and div forward values by hand", "[sub][mul][div]") {
  const Variable a(values({2, 3}, {1, 2, 3, 4, 5, 6}));
  require_values(sub(a, Variable(values({3}, {0.5, 1, 2}))).data(), {2, 3}, {0.5, 1, 1, 3.5, 4, 4});
  require_values(mul(a, Variable(values({2, 1}, {10, -1}))).data(), {2, 3},
                 {10, 20, 30, -4, -5, -6});
  require_values(div(a, Variable(values({2, 1}, {2, 4}))).data(), {2, 3},
                 {0.5, 1, 1.5, 1, 1.25, 1.5});
}

TEST_CASE("mul and div backward values by hand", "[mul][div]") {
  Variable a(values({2}, {3, -2}), true);
  Variable b(values({2}, {4, 0.5}), true);
  mul(a, b).backward(values({2}, {1, 2}));
  require_values(a.grad(), {2}, {4, 1});   // dy · b
  require_values(b.grad(), {2}, {3, -4});  // dy · a
  a.zero_grad();
  b.zero_grad();
  div(a, b).backward(values({2}, {1, 2}));
  require_values(a.grad(), {2}, {0.25, 4});        // dy / b
  require_values(b.grad(), {2}, {-3.0 / 16, 16});  // −dy · a / b²
}

TEST_CASE("add_scalar and mul_scalar forward values", "[add_scalar][mul_scalar]") {
  const Variable a(values({3}, {1, -2, 0.5}));
  require_values(add_scalar(a, 0.5).data(), {3}, {1.5, -1.5, 1});
  require_values(mul_scalar(a, -2).data(), {3}, {-2, 4, -1});
}

TEST_CASE("add, sub, mul, div compute in float32 on strided views", "[add][sub][mul][div]") {
  const Tensor base = values({2, 3}, {1, 2, 3, 4, 5, 6}, DType::f32);
  const Variable a(base.transpose(0, 1));  // [[1, 4], [2, 5], [3, 6]]
  const Variable b(values({2}, {1, 2}, DType::f32));
  const Variable y = add(a, b);
  REQUIRE(y.dtype() == DType::f32);
  require_values(y.data(), {3, 2}, {2, 6, 3, 7, 4, 8}, 1e-6);
  require_values(sub(a, b).data(), {3, 2}, {0, 2, 1, 3, 2, 4}, 1e-6);
  require_values(mul(a, b).data(), {3, 2}, {1, 8, 2, 10, 3, 12}, 1e-6);
  require_values(div(a, b).data(), {3, 2}, {1, 2, 2, 2.5, 3, 3}, 1e-6);
}

TEST_CASE("add, sub, mul, div reject shapes that do not broadcast, naming op and both shapes",
          "[add][sub][mul][div][errors]") {
  const Variable a(Tensor::zeros({2, 3}, DType::f64));
  const Variable b(Tensor::zeros({4}, DType::f64));
  REQUIRE_THROWS_AS(add(a, b), ShapeError);
  REQUIRE_THROWS_WITH(add(a, b), Contains("add:") && Contains("[2, 3]") && Contains("[4]"));
  REQUIRE_THROWS_WITH(sub(a, b), Contains("sub:") && Contains("[2, 3]") && Contains("[4]"));
  REQUIRE_THROWS_WITH(mul(a, b), Contains("mul:") && Contains("[2, 3]") && Contains("[4]"));
  REQUIRE_THROWS_WITH(div(b, a), Contains("div:") && Contains("[2, 3]") && Contains("[4]"));
  const Variable f(Tensor::zeros({2, 3}, DType::f32));
  REQUIRE_THROWS_AS(mul(a, f), DTypeError);
  REQUIRE_THROWS_WITH(mul(a, f), Contains("mul:") && Contains("float32"));
  REQUIRE_THROWS_WITH(
      mul_backward(Tensor::zeros({3, 3}, DType::f64), a.data(), a.data(), true, true),
      Contains("mul_backward") && Contains("[3, 3]") && Contains("[2, 3]"));
}
