// log_softmax and cross_entropy: gradients against central differences, values by hand (including
// logits large enough to overflow a naive exp), and errors for bad shapes and labels.
#include <catch2/catch.hpp>
#include <cmath>

#include "autograd/ops.h"
#include "autograd/ops/softmax.h"
#include "core/error.h"
#include "tests/test_helpers.h"

using namespace normlab;
using namespace normlab::test;
using Catch::Contains;

namespace {

Tensor labels(const std::vector<double>& v) {
  return Tensor::from_vector({static_cast<std::int64_t>(v.size())}, v, DType::i64);
}

}  // namespace

TEST_CASE("log_softmax backward matches finite differences", "[log_softmax][gradcheck]") {
  Rng rng(51);
  for (const auto& [shape, dim] : std::vector<std::pair<Shape, int>>{{{5}, 0},
                                                                     {{3, 5}, -1},
                                                                     {{3, 5}, 0},
                                                                     {{2, 3, 4}, 1},
                                                                     {{2, 3, 4}, 2},
                                                                     {{4, 1}, 1},
                                                                     {{1, 4}, 0}}) {
    INFO("x: " << to_string(shape) << ", dim " << dim);
    require_gradcheck([d = dim](const auto& in) { return log_softmax(in[0], d); },
                      {leaf(shape, rng)});
  }
  require_gradcheck([](const auto& in) { return log_softmax(in[0], 1); },
                    {transposed_leaf({4, 3}, rng)});
}

TEST_CASE("cross_entropy backward matches finite differences", "[cross_entropy][gradcheck]") {
  Rng rng(52);
  require_gradcheck(
      [](const auto& in) {
        return cross_entropy(in[0], labels({1, 4, 0, 4}));
      },
      {leaf({4, 5}, rng)});
  require_gradcheck([](const auto& in) { return cross_entropy(in[0], labels({2})); },
                    {leaf({1, 3}, rng)});
  require_gradcheck(
      [](const auto& in) {
        return cross_entropy(in[0], labels({0, 1, 1}));
      },
      {transposed_leaf({3, 2}, rng)});
  // Composed with other ops: the loss gradient flows back through matmul.
  require_gradcheck(
      [](const auto& in) {
        return cross_entropy(matmul(in[0], in[1]), labels({0, 2}));
      },
      {leaf({2, 3}, rng), leaf({3, 4}, rng)});
}

TEST_CASE("log_softmax forward values by hand, with no overflow for large logits",
          "[log_softmax]") {
  const double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  require_values(log_softmax(Variable(values({3}, {1, 2, 3})), 0).data(), {3},
                 {1 - lse, 2 - lse, 3 - lse});
  require_values(
      log_softmax(Variable(values({2, 2}, {1000, 1001, -1000, -1000})), 1).data(), {2, 2},
      {-std::log1p(std::exp(1.0)), -std::log1p(std::exp(-1.0)), -std::log(2.0), -std::log(2.0)});
  // Along dim 0 of a (2, 2): columns are the sets.
  require_values(log_softmax(Variable(values({2, 2}, {0, 5, 0, 5})), 0).data(), {2, 2},
                 {-std::log(2.0), -std::log(2.0), -std::log(2.0), -std::log(2.0)});
  const Variable f(values({2}, {1000, 1001}, DType::f32));
  REQUIRE(log_softmax(f, 0).dtype() == DType::f32);
  require_values(log_softmax(f, 0).data(), {2},
                 {-std::log1p(std::exp(1.0)), -std::log1p(std::exp(-1.0))}, 1e-6);
}

TEST_CASE("cross_entropy forward and backward values by hand", "[cross_entropy]") {
  Variable x(values({2, 3}, {1, 2, 3, 1, 1, 1}), true);
  const Variable loss = cross_entropy(x, labels({2, 0}));
  const double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  REQUIRE(loss.shape() == Shape{});
  require_values(loss.data(), {}, {((lse - 3) + std::log(3.0)) / 2});
  loss.backward();
  const double p0 = std::exp(1 - lse), p1 = std::exp(2 - lse), p2 = std::exp(3 - lse);
  require_values(x.grad(), {2, 3},
                 {p0 / 2, p1 / 2, (p2 - 1) / 2, (1.0 / 3 - 1) / 2, 1.0 / 6, 1.0 / 6});
  // Huge logits: the loss is the margin, not inf or nan.
  require_values(cross_entropy(Variable(values({1, 2}, {1000, 0})), labels({1})).data(), {},
                 {1000});
  const Variable f(values({1, 2}, {0, 0}, DType::f32));
  REQUIRE(cross_entropy(f, labels({0})).dtype() == DType::f32);
  require_values(cross_entropy(f, labels({0})).data(), {}, {std::log(2.0)}, 1e-6);
}

TEST_CASE("cross_entropy rejects bad labels and shapes with clear messages",
          "[cross_entropy][errors]") {
  const Variable x(Tensor::zeros({4, 5}, DType::f64));
  REQUIRE_THROWS_AS(cross_entropy(x, labels({0, 1, 7, 2})), ValueError);
  REQUIRE_THROWS_WITH(cross_entropy(x, labels({0, 1, 7, 2})),
                      Contains("cross_entropy:") && Contains("label 7") && Contains("position 2") &&
                          Contains("[0, 5)"));
  REQUIRE_THROWS_WITH(cross_entropy(x, labels({0, -1, 0, 0})),
                      Contains("cross_entropy:") && Contains("label -1") && Contains("position 1"));
  REQUIRE_THROWS_AS(cross_entropy(x, labels({0, 1, 2})), ShapeError);
  REQUIRE_THROWS_WITH(cross_entropy(x, labels({0, 1, 2})),
                      Contains("cross_entropy:") && Contains("[4, 5]") && Contains("[3]"));
  REQUIRE_THROWS_WITH(cross_entropy(Variable(Tensor::zeros({4}, DType::f64)), labels({0, 1, 2, 3})),
                      Contains("cross_entropy:") && Contains("[4]"));
  const Tensor i32 = Tensor::from_vector({4}, {0, 1, 2, 3}, DType::i32);
  REQUIRE_THROWS_AS(cross_entropy(x, i32), DTypeError);
  REQUIRE_THROWS_WITH(cross_entropy(x, i32), Contains("cross_entropy:") && Contains("int64"));
  REQUIRE_THROWS_AS(cross_entropy(Variable(Tensor::zeros({0, 5}, DType::f64)), labels({})),
                    ValueError);
  REQUIRE_THROWS_WITH(log_softmax(x, 2), Contains("log_softmax:") && Contains("[4, 5]"));
  REQUIRE_THROWS_WITH(
      log_softmax_backward(Tensor::zeros({4, 5}, DType::f64), Tensor::zeros({5, 4}, DType::f64), 0),
      Contains("log_softmax_backward") && Contains("[4, 5]") && Contains("[5, 4]"));
}
