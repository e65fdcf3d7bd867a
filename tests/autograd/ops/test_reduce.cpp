// sum and mean over chosen dims (with and without keepdim) and max over one dim: gradients against
// central differences, values by hand, PyTorch's tie rule for max, and errors.
#include <catch2/catch.hpp>

#include "autograd/ops.h"
#include "autograd/ops/reduce.h"
#include "core/error.h"
#include "tests/test_helpers.h"

using namespace normlab;
using namespace normlab::test;
using Catch::Contains;

namespace {

struct DimsCase {
  Shape shape;
  std::vector<int> dims;
};

const std::vector<DimsCase> kDims = {
    {{3, 4}, {0}},          {{3, 4}, {1}},    {{3, 4}, {-1}},   {{2, 3, 4}, {0, 2}},
    {{2, 3, 4}, {1}},       {{2, 1, 4}, {1}}, {{2, 1, 4}, {0}}, {{5}, {0}},
    {{2, 3, 4}, {2, 0, 1}}, {{2, 3}, {}},  // an empty list reduces every dim
};

using ReduceFn = Variable (*)(const Variable&, const std::vector<int>&, bool);

void check_reduce_gradients(ReduceFn op) {
  Rng rng(21);
  for (const auto& [shape, dims] : kDims) {
    for (const bool keepdim : {false, true}) {
      INFO("x: " << to_string(shape) << ", dims: " << dims.size() << ", keepdim: " << keepdim);
      require_gradcheck([&, &d = dims](const auto& in) { return op(in[0], d, keepdim); },
                        {leaf(shape, rng)});
    }
  }
  require_gradcheck([&](const auto& in) { return op(in[0], {0}, false); },
                    {transposed_leaf({3, 4}, rng)});
  require_gradcheck([&](const auto& in) { return op(in[0], {1}, true); },
                    {transposed_leaf({3, 4, 2}, rng)});
}

}  // namespace

TEST_CASE("sum backward matches finite differences", "[sum][gradcheck]") {
  check_reduce_gradients(sum);
  Rng rng(22);
  require_gradcheck([](const auto& in) { return sum(in[0]); }, {leaf({2, 3}, rng)});
}

TEST_CASE("mean backward matches finite differences", "[mean][gradcheck]") {
  check_reduce_gradients(mean);
  Rng rng(23);
  require_gradcheck([](const auto& in) { return mean(in[0]); }, {transposed_leaf({2, 3}, rng)});
}

TEST_CASE("max backward matches finite differences", "[max][gradcheck]") {
  Rng rng(24);
  for (const auto& [shape, dim] : std::vector<std::pair<Shape, int>>{
           {{5}, 0}, {{3, 4}, 0}, {{3, 4}, 1}, {{2, 3, 4}, -2}, {{2, 1, 4}, 1}, {{2, 3, 4}, 2}}) {
    for (const bool keepdim : {false, true}) {
      INFO("x: " << to_string(shape) << ", dim: " << dim << ", keepdim: " << keepdim);
      require_gradcheck([&, d = dim](const auto& in) { return max(in[0], d, keepdim); },
                        {leaf(shape, rng)});
    }
  }
  require_gradcheck([](const auto& in) { return max(in[0], 0, false); },
                    {transposed_leaf({4, 3}, rng)});
}

TEST_CASE("sum and mean forward values by hand", "[sum][mean]") {
  const Variable x(values({2, 3}, {1, 2, 3, 4, 5, 6}));
  require_values(sum(x).data(), {}, {21});
  require_values(sum(x, {0}).data(), {3}, {5, 7, 9});
  require_values(sum(x, {1}, true).data(), {2, 1}, {6, 15});
  require_values(sum(x, {-1, 0}).data(), {}, {21});
  require_values(mean(x).data(), {}, {3.5});
  require_values(mean(x, {0}, true).data(), {1, 3}, {2.5, 3.5, 4.5});
  require_values(mean(x, {1}).data(), {2}, {2, 5});
  // Over a transposed view: [[1, 4], [2, 5], [3, 6]].
  const Variable t(x.data().transpose(0, 1));
  require_values(sum(t, {1}).data(), {3}, {5, 7, 9});
  // float32
  const Variable f(values({2, 2}, {1, 2, 3, 4}, DType::f32));
  REQUIRE(mean(f, {0}).dtype() == DType::f32);
  require_values(mean(f, {0}).data(), {2}, {2, 3}, 1e-6);
}

TEST_CASE("sum and mean backward spread dy over the reduced dims", "[sum][mean]") {
  Variable x(values({2, 3}, {1, 2, 3, 4, 5, 6}), true);
  sum(x, {1}).backward(values({2}, {1, 2}));
  require_values(x.grad(), {2, 3}, {1, 1, 1, 2, 2, 2});
  x.zero_grad();
  mean(x, {0}, true).backward(values({1, 3}, {2, 4, 6}));
  require_values(x.grad(), {2, 3}, {1, 2, 3, 1, 2, 3});
}

TEST_CASE("max forward values and indices by hand", "[max]") {
  const Tensor x = values({2, 3}, {1, 5, 2, -1, -3, -2});
  require_values(max(Variable(x), 1).data(), {2}, {5, -1});
  require_values(max(Variable(x), 0, true).data(), {1, 3}, {1, 5, 2});
  const MaxResult r = max_forward(x, -1, false);
  REQUIRE(r.indices.dtype() == DType::i64);
  require_values(r.indices, {2}, {1, 0});
  require_values(max(Variable(values({2, 2}, {1, 2, 3, 4}, DType::f32)), 0).data(), {2}, {3, 4},
                 1e-6);
}

TEST_CASE("max sends the gradient of a tie to the first maximal element, as PyTorch", "[max]") {
  Variable x(values({2, 4}, {1, 3, 3, 0, 2, 2, 2, 2}), true);
  max(x, 1).backward(values({2}, {10, 20}));
  require_values(x.grad(), {2, 4}, {0, 10, 0, 0, 20, 0, 0, 0});
  Variable c(values({3, 2}, {7, 1, 7, 1, 7, 1}), true);
  max(c, 0).backward(values({2}, {1, 1}));
  require_values(c.grad(), {3, 2}, {1, 1, 0, 0, 0, 0});
}

TEST_CASE("sum, mean and max reject bad dims, naming the op and the shape",
          "[sum][mean][max][errors]") {
  const Variable x(Tensor::zeros({2, 3}, DType::f64));
  REQUIRE_THROWS_AS(sum(x, {2}), ShapeError);
  REQUIRE_THROWS_WITH(sum(x, {2}), Contains("sum:") && Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(sum(x, {1, -1}),
                      Contains("sum:") && Contains("repeated") && Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(mean(x, {-3}), Contains("mean:") && Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(max(x, 5), Contains("max:") && Contains("[2, 3]"));
  const Variable empty(Tensor::zeros({0, 3}, DType::f64));
  REQUIRE_THROWS_AS(mean(empty, {0}), ValueError);
  REQUIRE_THROWS_WITH(mean(empty, {0}), Contains("mean:") && Contains("[0, 3]"));
  REQUIRE(mean(empty, {1}).shape() == Shape{0});  // nothing to average per output, no output
  REQUIRE_THROWS_WITH(max(empty, 0), Contains("max:") && Contains("[0, 3]"));
  REQUIRE_THROWS_WITH(sum_backward(Tensor::zeros({3}, DType::f64), {2, 3}, {1}, false),
                      Contains("sum_backward") && Contains("[3]") && Contains("[2, 3]"));
  REQUIRE_THROWS_AS(sum(Variable(Tensor::zeros({2}, DType::i32))), DTypeError);
}
