// [meta] tests of the tester: gradcheck must fail, with a located message, when a backward is
// wrong, including errors that a Σy objective cannot see.
#include <catch2/catch.hpp>
#include <set>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/reduce.h"
#include "core/error.h"
#include "tests/test_helpers.h"

using namespace normlab;
using namespace normlab::test;
using Catch::Contains;

namespace {

// y = x ⊙ x with a backward dx = factor · x ⊙ dy: correct only for factor = 2.
struct SquareNode final : Node {
  Tensor x;
  double factor = 2.0;
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {mul_forward(mul_scalar_forward(x, factor), dy)};
  }
  std::string_view name() const override { return "square"; }
};

Variable square(const Variable& x, double factor) {
  auto node = std::make_shared<SquareNode>();
  node->x = x.data();
  node->factor = factor;
  return make_output(mul_forward(x.data(), x.data()), node, {x});
}

// y = a ⊙ b + a with da = dy ⊙ b (the "+ dy" term dropped) and a correct db.
struct DroppedTermNode final : Node {
  Tensor a, b;
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {mul_forward(dy, b), mul_forward(dy, a)};
  }
  std::string_view name() const override { return "dropped_term"; }
};

Variable mul_add(const Variable& a, const Variable& b) {
  auto node = std::make_shared<DroppedTermNode>();
  node->a = a.data();
  node->b = b.data();
  return make_output(add_forward(mul_forward(a.data(), b.data()), a.data()), node, {a, b});
}

// y = x − mean(x), whose Σy is 0 for every x; the backward returns zeros (wrong: dx = dy −
// mean(dy)). A Σy objective would call it right; the random projection must not.
struct CenterNode final : Node {
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {Tensor::zeros(dy.shape(), dy.dtype())};
  }
  std::string_view name() const override { return "center"; }
};

Variable center(const Variable& x) {
  const Tensor m = mean_forward(x.data(), {}, true);
  return make_output(sub_forward(x.data(), m), std::make_shared<CenterNode>(), {x});
}

// y = 3x with a backward that is right except at one element.
struct OneWrongElementNode final : Node {
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dx = mul_scalar_forward(dy, 3.0);
    dx.set({1, 2}, dx.get({1, 2}) * 1.01);
    return {dx};
  }
  std::string_view name() const override { return "one_wrong_element"; }
};

}  // namespace

TEST_CASE("gradcheck fails with a located message for a scaled backward", "[meta][gradcheck]") {
  Rng rng(61);
  const Variable x = leaf({3, 4}, rng);
  const GradcheckReport right =
      gradcheck([](const auto& in) { return square(in[0], 2.0); }, {x}, tight());
  INFO(right.worst());
  REQUIRE(right.ok());  // the control: the same node with the right factor passes

  const GradcheckReport wrong =
      gradcheck([](const auto& in) { return square(in[0], 1.0); }, {x}, tight());
  REQUIRE_FALSE(wrong.ok());
  REQUIRE(wrong.mismatches.size() == 12);
  REQUIRE_THAT(wrong.worst(), Contains("input 0 at [") && Contains("analytic") &&
                                  Contains("numeric") && Contains("seed"));
}

TEST_CASE("gradcheck finds a dropped term and names the input it belongs to", "[meta][gradcheck]") {
  Rng rng(62);
  const GradcheckReport r = gradcheck([](const auto& in) { return mul_add(in[0], in[1]); },
                                      {leaf({2, 3}, rng), leaf({2, 3}, rng)}, tight());
  REQUIRE_FALSE(r.ok());
  for (const GradcheckMismatch& m : r.mismatches) {
    REQUIRE(m.input == 0);  // db is right; only da lacks its term
  }
  REQUIRE_THAT(r.worst(), Contains("input 0 at ["));
}

TEST_CASE("gradcheck sees a zero backward that a sum objective would pass", "[meta][gradcheck]") {
  Rng rng(63);
  const Variable x = leaf({2, 5}, rng);
  // The blind objective: Σ center(x) is 0 for every x, so the zero backward agrees with it.
  const GradcheckReport blind =
      gradcheck([](const auto& in) { return sum(center(in[0])); }, {x}, tight());
  REQUIRE(blind.ok());
  const GradcheckReport projected =
      gradcheck([](const auto& in) { return center(in[0]); }, {x}, tight());
  REQUIRE_FALSE(projected.ok());
}

TEST_CASE("gradcheck locates a single wrong element", "[meta][gradcheck]") {
  Rng rng(64);
  const GradcheckReport r = gradcheck(
      [](const auto& in) {
        return make_output(mul_scalar_forward(in[0].data(), 3.0),
                           std::make_shared<OneWrongElementNode>(), {in[0]});
      },
      {leaf({3, 4}, rng)}, tight());
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.mismatches.size() == 1);
  REQUIRE(r.mismatches[0].index == std::vector<std::int64_t>{1, 2});
  REQUIRE_THAT(r.worst(), Contains("input 0 at [1, 2]") && Contains("1 of 12"));
}

TEST_CASE("gradcheck rejects float32 inputs and non-leaf inputs", "[meta][gradcheck]") {
  const Variable f(Tensor::zeros({2}, DType::f32), true);
  REQUIRE_THROWS_AS(gradcheck([](const auto& in) { return in[0]; }, {f}), DTypeError);
  Rng rng(65);
  const Variable nonleaf = exp(leaf({2}, rng));
  REQUIRE_THROWS_AS(gradcheck([](const auto& in) { return exp(in[0]); }, {nonleaf}), ValueError);
}

TEST_CASE("gradcheck checks a seeded random subset of a large input", "[meta][gradcheck]") {
  // 6×8 = 48 elements, max_elements 10: exactly 10 distinct elements per input are checked. With
  // the all-wrong backward (factor 1) every checked element is a mismatch, so the mismatches list
  // the subset itself.
  Rng rng(66);
  const Variable x = leaf({6, 8}, rng);
  GradcheckOptions subset = tight();
  subset.max_elements = 10;
  const auto wrong = [](const auto& in) { return square(in[0], 1.0); };
  const auto subset_of = [](const GradcheckReport& r) {
    std::set<std::vector<std::int64_t>> s;
    for (const GradcheckMismatch& m : r.mismatches) {
      s.insert(m.index);
    }
    return s;
  };

  const GradcheckReport a = gradcheck(wrong, {x}, subset);
  REQUIRE(a.checked == 10);
  REQUIRE(a.mismatches.size() == 10);
  REQUIRE(subset_of(a).size() == 10);  // no element drawn twice

  const GradcheckReport again = gradcheck(wrong, {x}, subset);
  REQUIRE(subset_of(again) == subset_of(a));  // same seed, same subset

  subset.seed = 7;
  const GradcheckReport other = gradcheck(wrong, {x}, subset);
  REQUIRE(other.checked == 10);
  REQUIRE(subset_of(other) != subset_of(a));  // another seed draws another subset
  REQUIRE_THAT(other.worst(), Contains("10 of 10") && Contains("seed 7"));

  const GradcheckReport right =
      gradcheck([](const auto& in) { return square(in[0], 2.0); }, {x}, subset);
  INFO(right.worst());
  REQUIRE(right.ok());
  REQUIRE(right.checked == 10);
}

TEST_CASE("gradcheck's subset covers every input of the call and finds a single wrong element",
          "[meta][gradcheck]") {
  // Two inputs of 12 elements each, max_elements 12 for the first check (exhaustive, control) and
  // 11 (subset) for the rest. The one wrong element ([1, 2]) is found whenever the subset draws it,
  // and over a few seeds it must be both drawn and missed: the subset is neither fixed nor full.
  Rng rng(67);
  const Variable x = leaf({3, 4}, rng);
  const auto f = [](const auto& in) {
    return make_output(mul_scalar_forward(in[0].data(), 3.0),
                       std::make_shared<OneWrongElementNode>(), {in[0]});
  };
  GradcheckOptions o = tight();
  o.max_elements = 12;
  REQUIRE(gradcheck(f, {x}, o).mismatches.size() == 1);
  o.max_elements = 11;
  int found = 0, missed = 0;
  for (std::uint64_t seed = 1; seed <= 40; ++seed) {
    o.seed = seed;
    const GradcheckReport r = gradcheck(f, {x}, o);
    REQUIRE(r.checked == 11);
    (r.ok() ? missed : found) += 1;
  }
  REQUIRE(found > 0);
  REQUIRE(missed > 0);

  const Variable y = leaf({4, 5}, rng);
  o.max_elements = 3;
  const GradcheckReport two =
      gradcheck([](const auto& in) { return add(mul(in[0], in[0]), sum(in[1])); }, {x, y}, o);
  INFO(two.worst());
  REQUIRE(two.ok());
  REQUIRE(two.checked == 6);  // 3 per input
}
