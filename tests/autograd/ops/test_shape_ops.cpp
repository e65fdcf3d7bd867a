// reshape, permute, slice and concat: gradients against central differences (including
// non-contiguous inputs), values by hand, and errors naming the op and every shape.
#include <catch2/catch.hpp>

#include "autograd/ops.h"
#include "autograd/ops/shape_ops.h"
#include "core/error.h"
#include "tests/test_helpers.h"

using namespace normlab;
using namespace normlab::test;
using Catch::Contains;

TEST_CASE("reshape backward matches finite differences", "[reshape][gradcheck]") {
  Rng rng(41);
  for (const auto& [from, to] : std::vector<std::pair<Shape, Shape>>{{{2, 3, 4}, {6, 4}},
                                                                     {{2, 3, 4}, {-1}},
                                                                     {{6}, {1, 2, 1, 3}},
                                                                     {{1}, {}},
                                                                     {{3, 4}, {4, -1}}}) {
    INFO("x: " << to_string(from) << " to " << to_string(to));
    require_gradcheck([t = to](const auto& in) { return reshape(in[0], t); }, {leaf(from, rng)});
  }
  // A transposed view cannot be viewed: reshape copies, and the gradient still lands right.
  require_gradcheck([](const auto& in) { return reshape(in[0], {12}); },
                    {transposed_leaf({3, 4}, rng)});
}

TEST_CASE("permute backward matches finite differences", "[permute][gradcheck]") {
  Rng rng(42);
  for (const std::vector<int>& axes :
       {std::vector<int>{1, 0, 2}, {2, 0, 1}, {1, 2, 0}, {0, 1, 2}, {-1, 0, 1}}) {
    require_gradcheck([axes](const auto& in) { return permute(in[0], axes); },
                      {leaf({2, 3, 4}, rng)});
  }
  require_gradcheck(
      [](const auto& in) {
        return permute(in[0], {1, 0});
      },
      {transposed_leaf({3, 2}, rng)});
}

TEST_CASE("slice backward matches finite differences", "[slice][gradcheck]") {
  Rng rng(43);
  struct Case {
    Shape shape;
    int dim;
    std::int64_t start, end;
  };
  for (const Case& c : {Case{{5}, 0, 1, 4}, Case{{3, 4}, 1, 0, 2}, Case{{3, 4}, 0, 2, 3},
                        Case{{2, 5, 3}, -2, -3, -1}, Case{{2, 1, 3}, 1, 0, 1}}) {
    INFO("x: " << to_string(c.shape) << " dim " << c.dim << " [" << c.start << ", " << c.end
               << ")");
    require_gradcheck([c](const auto& in) { return slice(in[0], c.dim, c.start, c.end); },
                      {leaf(c.shape, rng)});
  }
  require_gradcheck([](const auto& in) { return slice(in[0], 1, 1, 3); },
                    {transposed_leaf({4, 3}, rng)});
}

TEST_CASE("concat backward matches finite differences", "[concat][gradcheck]") {
  Rng rng(44);
  const auto cat = [](int dim) {
    return [dim](const std::vector<Variable>& in) { return concat(in, dim); };
  };
  require_gradcheck(cat(0), {leaf({2, 3}, rng), leaf({1, 3}, rng), leaf({4, 3}, rng)});
  require_gradcheck(cat(1), {leaf({2, 3}, rng), leaf({2, 1}, rng)});
  require_gradcheck(cat(-1), {leaf({2, 2, 3}, rng), leaf({2, 2, 2}, rng)});
  require_gradcheck(cat(1), {transposed_leaf({3, 2}, rng), leaf({3, 4}, rng)});
  require_gradcheck(cat(0), {leaf({3}, rng)});  // a single part
  // A part that needs no gradient is skipped; the others still get theirs.
  require_gradcheck(cat(0), {leaf({2, 2}, rng), Variable(randn({1, 2}, DType::f64, rng))});
}

TEST_CASE("reshape, permute, slice, concat forward values by hand",
          "[reshape][permute][slice][concat]") {
  const Variable x(values({2, 3}, {1, 2, 3, 4, 5, 6}));
  require_values(reshape(x, {3, -1}).data(), {3, 2}, {1, 2, 3, 4, 5, 6});
  require_values(permute(x, {1, 0}).data(), {3, 2}, {1, 4, 2, 5, 3, 6});
  require_values(slice(x, 1, 1, 3).data(), {2, 2}, {2, 3, 5, 6});
  require_values(slice(x, -1, -1, 3).data(), {2, 1}, {3, 6});
  require_values(slice(x, 0, 1, 1).data(), {0, 3}, {});
  const Variable y(values({2, 1}, {7, 8}));
  require_values(concat({x, y}, 1).data(), {2, 4}, {1, 2, 3, 7, 4, 5, 6, 8});
  require_values(concat({x, slice(x, 0, 0, 1)}, 0).data(), {3, 3}, {1, 2, 3, 4, 5, 6, 1, 2, 3});
  const Variable f(values({2, 2}, {1, 2, 3, 4}, DType::f32));
  REQUIRE(concat({f, f}, 0).dtype() == DType::f32);
  require_values(concat({f, permute(f, {1, 0})}, 1).data(), {2, 4}, {1, 2, 1, 3, 3, 4, 2, 4}, 1e-6);
}

TEST_CASE("slice and concat backward place dy where the values came from", "[slice][concat]") {
  Variable x(values({2, 3}, {1, 2, 3, 4, 5, 6}), true);
  slice(x, 1, 1, 2).backward(values({2, 1}, {10, 20}));
  require_values(x.grad(), {2, 3}, {0, 10, 0, 0, 20, 0});
  Variable a(values({1, 2}, {1, 2}), true);
  Variable b(values({2, 2}, {3, 4, 5, 6}), true);
  concat({a, b}, 0).backward(values({3, 2}, {1, 2, 3, 4, 5, 6}));
  require_values(a.grad(), {1, 2}, {1, 2});
  require_values(b.grad(), {2, 2}, {3, 4, 5, 6});
}

TEST_CASE("reshape, permute, slice, concat reject bad shapes, naming the op and the shapes",
          "[reshape][permute][slice][concat][errors]") {
  const Variable x(Tensor::zeros({4, 6}, DType::f64));
  REQUIRE_THROWS_AS(reshape(x, {5, 5}), ShapeError);
  REQUIRE_THROWS_WITH(reshape(x, {5, 5}),
                      Contains("reshape:") && Contains("[4, 6]") && Contains("[5, 5]"));
  REQUIRE_THROWS_WITH(reshape(x, {-1, -1}), Contains("reshape:") && Contains("[-1, -1]"));
  REQUIRE_THROWS_WITH(permute(x, {0, 0}),
                      Contains("permute:") && Contains("[0, 0]") && Contains("[4, 6]"));
  REQUIRE_THROWS_WITH(permute(x, {0}), Contains("permute:") && Contains("[4, 6]"));
  REQUIRE_THROWS_WITH(slice(x, 1, 2, 7),
                      Contains("slice:") && Contains("[2, 7)") && Contains("[4, 6]"));
  REQUIRE_THROWS_WITH(slice(x, 2, 0, 1), Contains("slice:") && Contains("[4, 6]"));
  const Variable y(Tensor::zeros({3, 5}, DType::f64));
  REQUIRE_THROWS_AS(concat({x, y}, 0), ShapeError);
  REQUIRE_THROWS_WITH(concat({x, y}, 0),
                      Contains("concat:") && Contains("[4, 6]") && Contains("[3, 5]"));
  REQUIRE_THROWS_WITH(concat({x, Variable(Tensor::zeros({4}, DType::f64))}, 0),
                      Contains("concat:") && Contains("[4, 6]") && Contains("[4]"));
  REQUIRE_THROWS_AS(concat({}, 0), ValueError);
  REQUIRE_THROWS_AS(concat({x, Variable(Tensor::zeros({4, 6}, DType::f32))}, 0), DTypeError);
}
