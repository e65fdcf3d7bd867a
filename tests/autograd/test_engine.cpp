// The backward engine: fan-out accumulation, retain_graph, detach, graphs that are not recorded,
// implicit seeds, accumulation across backward calls, long chains of temporaries, and which values
// the graph keeps alive.
#include <catch2/catch.hpp>
#include <cmath>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "tests/test_helpers.h"

using namespace normlab;
using namespace normlab::test;
using Catch::Contains;

TEST_CASE("engine: a variable used twice accumulates both gradients (fan-out)", "[engine]") {
  Variable x(values({3}, {1, -2, 0.5}), true);
  sum(mul(x, x)).backward();  // d/dx Σ x² = 2x
  require_values(x.grad(), {3}, {2, -4, 1});
  x.zero_grad();
  sum(add(x, x)).backward();
  require_values(x.grad(), {3}, {2, 2, 2});
  // A diamond: y = Σ exp(x) · 3x, both branches from x.  dy/dx = 3 exp(x) (x + 1).
  x.zero_grad();
  sum(mul(exp(x), mul_scalar(x, 3))).backward();
  require_values(x.grad(), {3},
                 {3 * std::exp(1.0) * 2, 3 * std::exp(-2.0) * -1, 3 * std::exp(0.5) * 1.5});
}

TEST_CASE("engine: a gradient that two slots share is never written in place", "[engine]") {
  // y = (u + v) + v with u = 2·x1, v = 3·x2. The outer add hands one dy to (u + v)'s slot and to
  // v's; the inner add then hands that same dy to u's slot and adds it to v's, which must not
  // write into the buffer u's slot holds. With dy = g: x1.grad = 2g, x2.grad = 3·2g. And two
  // leaves that receive one shared gradient must each own their .grad: scaling one must leave the
  // other unchanged.
  Variable x1(values({3}, {1, -2, 0.5}), true), x2(values({3}, {0.5, 1, -1}), true);
  const Variable u = mul_scalar(x1, 2), v = mul_scalar(x2, 3);
  add(add(u, v), v).backward(values({3}, {1, 2, -3}));
  require_values(x1.grad(), {3}, {2, 4, -6});
  require_values(x2.grad(), {3}, {6, 12, -18});
  Variable a(values({2}, {1, 2}), true), b(values({2}, {3, 4}), true);
  add(a, b).backward(values({2}, {5, 7}));
  Tensor ga = a.grad();
  scale_(ga, 10.0);
  require_values(b.grad(), {2}, {5, 7});
}

TEST_CASE("engine: retain_graph allows a second backward and without it a second one throws",
          "[engine]") {
  Variable x(values({2}, {1, 3}), true);
  const Variable y = sum(mul(x, x));
  y.backward(/*retain_graph=*/true);
  y.backward();
  require_values(x.grad(), {2}, {4, 12});  // 2x, twice
  REQUIRE_THROWS_AS(y.backward(), ValueError);
  REQUIRE_THROWS_WITH(y.backward(), Contains("second time") && Contains("retain_graph"));

  Variable z(values({2}, {1, 3}), true);
  const Variable w = sum(exp(z));
  w.backward();
  REQUIRE_THROWS_WITH(w.backward(), Contains("second time"));
}

TEST_CASE("engine: detach cuts the graph", "[engine]") {
  Variable x(values({2}, {2, 3}), true);
  Variable w(values({2}, {5, 7}), true);
  const Variable d = x.detach();
  REQUIRE_FALSE(d.requires_grad());
  REQUIRE(d.data().shares_storage(x.data()));
  sum(mul(d, w)).backward();
  REQUIRE_FALSE(x.grad().defined());
  require_values(w.grad(), {2}, {2, 3});
  // Detaching an intermediate stops the gradient there too.
  w.zero_grad();
  sum(mul(exp(w).detach(), w)).backward();
  require_values(w.grad(), {2}, {std::exp(5.0), std::exp(7.0)});
}

TEST_CASE("engine: ops on inputs without requires_grad record nothing", "[engine]") {
  const Variable a(values({2, 2}, {1, 2, 3, 4}));
  const Variable b(values({2, 2}, {1, 1, 1, 1}));
  const Tensor labels = Tensor::from_vector({2}, {0, 1}, DType::i64);
  for (const Variable& y : {add(a, b),
                            sub(a, b),
                            mul(a, b),
                            div(a, b),
                            add_scalar(a, 1),
                            mul_scalar(a, 2),
                            neg(a),
                            exp(a),
                            log(a),
                            sqrt(a),
                            pow(a, 2),
                            abs(a),
                            relu(a),
                            sigmoid(a),
                            tanh(a),
                            sum(a),
                            mean(a, {0}),
                            max(a, 1),
                            matmul(a, b),
                            reshape(a, {4}),
                            permute(a, {1, 0}),
                            slice(a, 0, 0, 1),
                            concat({a, b}, 0),
                            log_softmax(a, 1),
                            cross_entropy(a, labels)}) {
    REQUIRE(y.grad_fn() == nullptr);
    REQUIRE_FALSE(y.requires_grad());
  }
  REQUIRE_THROWS_AS(sum(a).backward(), ValueError);  // nothing to differentiate
  // One input requiring a gradient is enough to record.
  const Variable x(values({2, 2}, {1, 2, 3, 4}), true);
  REQUIRE(add(b, x).grad_fn() != nullptr);
  REQUIRE(add(b, x).grad_fn()->name() == "add");
  REQUIRE(concat({b, x}, 1).requires_grad());
}

TEST_CASE("engine: backward on a non-scalar output needs grad_output", "[engine]") {
  Variable x(values({2, 3}, {1, 2, 3, 4, 5, 6}), true);
  const Variable y = mul_scalar(x, 2);
  REQUIRE_THROWS_AS(y.backward(), ShapeError);
  REQUIRE_THROWS_WITH(y.backward(), Contains("backward") && Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(y.backward(Tensor::ones({3, 2}, DType::f64)),
                      Contains("[2, 3]") && Contains("[3, 2]"));
  // A non-contiguous grad_output is fine.
  y.backward(values({3, 2}, {1, 2, 3, 4, 5, 6}).transpose(0, 1));
  require_values(x.grad(), {2, 3}, {2, 6, 10, 4, 8, 12});
}

TEST_CASE("engine: gradients accumulate into .grad across backward calls", "[engine]") {
  Variable x(values({2}, {1, 2}), true);
  sum(mul_scalar(x, 3)).backward();
  sum(mul_scalar(x, 3)).backward();
  require_values(x.grad(), {2}, {6, 6});
  x.zero_grad();
  REQUIRE_FALSE(x.grad().defined());
  sum(mul_scalar(x, 3)).backward();
  require_values(x.grad(), {2}, {3, 3});
}

TEST_CASE("engine: a long chain of temporaries is walked without freeing nodes early", "[engine]") {
  // Every intermediate is a temporary owned only by the next node; the engine clears inputs as it
  // goes, so it must keep the nodes it has yet to visit alive.
  Variable x(values({3}, {0.1, 0.2, 0.3}), true);
  Variable y = x;
  const int steps = 2000;
  for (int i = 0; i < steps; ++i) {
    y = add_scalar(mul_scalar(y, 1.0), 0.001);
  }
  sum(y).backward();
  require_values(x.grad(), {3}, {1, 1, 1});
  require_values(y.data(), {3}, {2.1, 2.2, 2.3}, 1e-9);
  Variable z(values({2}, {0.5, -0.5}), true);
  sum(exp(mul(z, z))).backward();  // d/dz e^{z²} = 2z e^{z²}
  require_values(z.grad(), {2}, {std::exp(0.25), -std::exp(0.25)});
}

TEST_CASE("engine: the graph does not keep an intermediate's value alive", "[engine]") {
  // h = x + 1 is read by tanh, which saves its own output, not h: once the last handle to h is
  // gone, nothing may hold h's buffer until the backward (an edge holds h's node, not h).
  Variable x(values({3}, {0.1, -0.2, 0.3}), true);
  Variable h = add_scalar(x, 1.0);
  const Tensor h_value = h.data();
  const Variable y = sum(tanh(h));
  REQUIRE_FALSE(h_value.owns_storage_alone());  // h itself still holds it
  h = Variable();
  REQUIRE(h_value.owns_storage_alone());
  y.backward();  // d/dx Σ tanh(x + 1) = 1 − tanh²(x + 1), through h's node
  require_values(x.grad(), {3},
                 {1 - std::pow(std::tanh(1.1), 2), 1 - std::pow(std::tanh(0.8), 2),
                  1 - std::pow(std::tanh(1.3), 2)});
  // A leaf that requires a gradient is held by its edge: its .grad is written through it.
  Variable leaf(values({2}, {1, 2}), true);
  const Variable z = sum(mul_scalar(leaf, 2));
  REQUIRE(z.grad_fn()->inputs[0].node != nullptr);  // sum's input is mul_scalar's result
  REQUIRE(z.grad_fn()->inputs[0].node->inputs[0].leaf.same(leaf));
}
