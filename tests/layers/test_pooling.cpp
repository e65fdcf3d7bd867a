// MaxPool2d, AvgPool2d (both count_include_pad), GlobalAvgPool2d: float64 gradcheck over several
// geometries, hand-computed values (ties: the first maximum wins), and errors.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <vector>

#include "autograd/ops.h"
#include "core/error.h"
#include "layers/pooling.h"
#include "tests/layers/layer_test_helpers.h"

using namespace normlab;
using namespace normlab::test;
using Catch::Contains;

namespace {

struct MaxPoolCase {
  Shape x;
  Size2d kernel;
  MaxPool2dOptions o;
};

}  // namespace

TEST_CASE("max_pool2d backward matches central differences", "[max_pool2d][gradcheck]") {
  // Random normal inputs have no ties, so the max is differentiable at every checked point.
  const std::vector<MaxPoolCase> cases{
      {{2, 3, 6, 6}, 2, {}},
      {{2, 2, 5, 7}, 2, {}},  // odd sizes: the last row and column are in no window
      {{2, 2, 7, 7}, 3, {.stride = 2, .padding = 1}},
      {{1, 2, 8, 7}, {3, 2}, {.stride = Size2d{2, 1}, .padding = 1, .dilation = 2}},
      {{1, 1, 5, 5}, 3, {.stride = 1}},  // overlapping windows: one input feeds several outputs
      {{3, 1, 1, 1}, 1, {}},
  };
  for (const MaxPoolCase& c : cases) {
    CAPTURE(to_string(c.x), c.kernel.h, c.kernel.w);
    Rng rng(8);
    MaxPool2d pool(c.kernel, c.o);
    require_module_gradcheck(pool, leaf(c.x, rng));
  }
}

TEST_CASE("avg_pool2d backward matches central differences", "[avg_pool2d][gradcheck]") {
  const bool include = GENERATE(true, false);
  struct Case {
    Shape x;
    Size2d kernel;
    Size2d stride, padding;
  };
  const std::vector<Case> cases{
      {{2, 3, 6, 5}, 2, 2, 0},
      {{2, 2, 7, 6}, 3, 2, 1},
      {{1, 2, 5, 8}, {2, 4}, {1, 3}, {1, 2}},
      {{1, 1, 4, 4}, 3, 1, 1},
  };
  for (const Case& c : cases) {
    CAPTURE(include, to_string(c.x), c.kernel.h, c.kernel.w);
    Rng rng(8);
    AvgPool2d pool(c.kernel,
                   {.stride = c.stride, .padding = c.padding, .count_include_pad = include});
    require_module_gradcheck(pool, leaf(c.x, rng));
  }
}

TEST_CASE("global_avg_pool2d backward matches central differences",
          "[global_avg_pool2d][gradcheck]") {
  for (const Shape& s : {Shape{2, 3, 4, 5}, Shape{1, 1, 1, 1}, Shape{3, 2, 1, 7}}) {
    CAPTURE(to_string(s));
    Rng rng(4);
    GlobalAvgPool2d pool;
    require_module_gradcheck(pool, leaf(s, rng));
  }
}

TEST_CASE("max_pool2d by hand: first maximum wins ties, -inf and NaN", "[max_pool2d]") {
  // One 2×4 plane, kernel 2: windows {1, 5, 5, 2} and {3, 3, 0, 3}.
  const Variable x(Tensor::from_vector({1, 1, 2, 4}, {1, 5, 3, 3, 5, 2, 0, 3}, DType::f64), true);
  const Variable y = max_pool2d(x, 2);
  REQUIRE(y.data().get({0, 0, 0, 0}) == 5.0);
  REQUIRE(y.data().get({0, 0, 0, 1}) == 3.0);
  y.backward(Tensor::from_vector({1, 1, 1, 2}, {10, 20}, DType::f64));
  // The gradient goes to the first maximum in row-major window order: (0, 1) and (0, 2).
  const std::vector<double> want{0, 10, 20, 0, 0, 0, 0, 0};
  REQUIRE(max_abs_diff(x.grad(), Tensor::from_vector({1, 1, 2, 4}, want, DType::f64)) == 0.0);

  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Tensor z =
      Tensor::from_vector({1, 1, 2, 4}, {-inf, -inf, 1, nan, -inf, -inf, nan, 2}, DType::f64);
  const Tensor yz = max_pool2d_forward(z, 2);
  REQUIRE(yz.get({0, 0, 0, 0}) == -inf);
  REQUIRE(std::isnan(yz.get({0, 0, 0, 1})));  // NaN propagates, as in PyTorch
}

TEST_CASE("max_pool2d backward: a -0 gradient lands as +0, the sum onto a zeroed dx",
          "[max_pool2d]") {
  // PyTorch accumulates into a zeroed grad_input, so dx holds 0 + dy, never -0.
  for (const Size2d kernel : {Size2d{2}, Size2d{3}}) {
    const Variable x(Tensor::from_vector({1, 1, 2, 2}, {1, 4, 3, 2}, DType::f32), true);
    max_pool2d(x, kernel, {.stride = 2, .padding = kernel.h == 3 ? 1 : 0})
        .backward(Tensor::from_vector({1, 1, 1, 1}, {-0.0}, DType::f32));
    const double got = x.grad().get({0, 0, 0, 1});
    CAPTURE(kernel.h);
    REQUIRE(got == 0.0);
    REQUIRE_FALSE(std::signbit(got));
  }
}

TEST_CASE("max_pool2d 2x2: every row width equals a naive loop, ties and NaN included",
          "[max_pool2d]") {
  // The 2×2 kernel runs a row in chunks of 16, 8, 4 or 1 outputs, the last chunk overlapping the
  // one before it; widths 1 to 21 cover every chunk size and overlap. Values from {0, 1, 2} make
  // ties in most windows, and a few NaNs must win their window.
  const DType dtype = GENERATE(DType::f32, DType::f64);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (std::int64_t oW = 1; oW <= 21; ++oW) {
    CAPTURE(oW, dtype_name(dtype));
    const std::int64_t H = 4, W = 2 * oW, oH = 2, planes = 2;
    Rng rng(static_cast<std::uint64_t>(oW));
    std::vector<double> v(static_cast<std::size_t>(planes * H * W));
    for (double& e : v) {
      e = rng.bernoulli(0.03) ? nan : static_cast<double>(rng.randint(3));
    }
    const Variable x(Tensor::from_vector({1, planes, H, W}, v, dtype), true);
    const Variable y = max_pool2d(x, 2);
    std::vector<double> dy(static_cast<std::size_t>(planes * oH * oW));
    for (std::size_t i = 0; i < dy.size(); ++i) {
      dy[i] = static_cast<double>(i + 1);
    }
    y.backward(Tensor::from_vector({1, planes, oH, oW}, dy, dtype));
    std::vector<double> want_dx(v.size(), 0.0);
    for (std::int64_t p = 0; p < planes; ++p) {
      for (std::int64_t oh = 0; oh < oH; ++oh) {
        for (std::int64_t ow = 0; ow < oW; ++ow) {
          std::int64_t arg = -1;  // the first maximum in row-major window order, or the first NaN
          for (const std::int64_t k : {0, 1, 2, 3}) {
            const std::int64_t at = (p * H + 2 * oh + k / 2) * W + 2 * ow + k % 2;
            const double e = v[static_cast<std::size_t>(at)];
            const double best = arg < 0 ? 0.0 : v[static_cast<std::size_t>(arg)];
            if (arg < 0 || e > best || (std::isnan(e) && !std::isnan(best))) {
              arg = at;
            }
          }
          const double got = y.data().get({0, p, oh, ow});
          const double want = v[static_cast<std::size_t>(arg)];
          REQUIRE((got == want || (std::isnan(got) && std::isnan(want))));
          want_dx[static_cast<std::size_t>(arg)] +=
              dy[static_cast<std::size_t>((p * oH + oh) * oW + ow)];
        }
      }
    }
    REQUIRE(max_abs_diff(x.grad(), Tensor::from_vector({1, planes, H, W}, want_dx, dtype)) == 0.0);
  }
}

TEST_CASE("avg_pool2d by hand: count_include_pad changes the border divisor", "[avg_pool2d]") {
  // 2×2 plane of ones, kernel 3, stride 1, padding 1: every window holds 4 ones out of 9 cells
  // (including padding) or 4 in-image cells.
  const Tensor x = Tensor::ones({1, 1, 2, 2}, DType::f64);
  const Tensor incl = avg_pool2d_forward(x, 3, {.stride = 1, .padding = 1});
  const Tensor excl =
      avg_pool2d_forward(x, 3, {.stride = 1, .padding = 1, .count_include_pad = false});
  REQUIRE(incl.shape() == Shape{1, 1, 2, 2});
  REQUIRE(incl.get({0, 0, 1, 0}) == Approx(4.0 / 9.0));
  REQUIRE(excl.get({0, 0, 1, 0}) == 1.0);
  const Tensor g =
      global_avg_pool2d_forward(Tensor::from_vector({1, 2, 1, 2}, {1, 2, 3, 5}, DType::f32));
  REQUIRE(g.shape() == Shape{1, 2, 1, 1});
  REQUIRE(g.get({0, 1, 0, 0}) == 4.0);
}

TEST_CASE("pooling modules: default stride, forward_no_grad equals forward, repr",
          "[max_pool2d][avg_pool2d]") {
  Rng rng(3);
  const Tensor x = randn({2, 3, 8, 8}, DType::f32, rng);
  MaxPool2d mp(2);
  AvgPool2d ap(3, {.stride = 2, .padding = 1, .count_include_pad = false});
  GlobalAvgPool2d gp;
  REQUIRE(mp.forward_no_grad(x).shape() == Shape{2, 3, 4, 4});
  REQUIRE(ap.forward_no_grad(x).shape() == Shape{2, 3, 4, 4});
  REQUIRE(gp.forward_no_grad(x).shape() == Shape{2, 3, 1, 1});
  for (Module* m : std::vector<Module*>{&mp, &ap, &gp}) {
    REQUIRE(max_abs_diff(m->forward_no_grad(x), m->forward(Variable(x)).data()) == 0.0);
  }
  REQUIRE(mp.to_string() == "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1)");
  REQUIRE(ap.to_string() ==
          "AvgPool2d(kernel_size=3, stride=2, padding=1, count_include_pad=False)");
}

TEST_CASE("pooling errors name the op and the shape", "[max_pool2d][avg_pool2d][errors]") {
  REQUIRE_THROWS_WITH(max_pool2d_forward(Tensor::zeros({3, 4, 4}), 2),
                      Contains("max_pool2d") && Contains("[3, 4, 4]"));
  REQUIRE_THROWS_WITH(max_pool2d_forward(Tensor::zeros({1, 1, 2, 2}), 3),
                      Contains("does not fit") && Contains("[1, 1, 2, 2]"));
  REQUIRE_THROWS_WITH(avg_pool2d_forward(Tensor::zeros({1, 1, 4, 4}), 2, {.padding = 2}),
                      Contains("at most half of kernel_size"));
  REQUIRE_THROWS_AS(MaxPool2d(3, {.padding = 2}), ValueError);
  REQUIRE_THROWS_AS(AvgPool2d(0), ValueError);
  REQUIRE_THROWS_AS(MaxPool2d(2, {.stride = 0}), ValueError);
  REQUIRE_THROWS_WITH(global_avg_pool2d_forward(Tensor::zeros({2, 3})),
                      Contains("global_avg_pool2d") && Contains("[2, 3]"));
  REQUIRE_THROWS_AS(max_pool2d_forward(Tensor::zeros({1, 1, 4, 4}, DType::i64), 2), DTypeError);
  REQUIRE_THROWS_WITH(max_pool2d_relu_forward(Tensor::zeros({3, 4, 4}), 2),
                      Contains("max_pool2d_relu") && Contains("[3, 4, 4]"));
  REQUIRE_THROWS_WITH(max_pool2d_relu(Variable(Tensor::zeros({1, 1, 2, 2}), true), 3),
                      Contains("max_pool2d_relu") && Contains("does not fit"));
  // A plane of 2³¹ positions or more cannot be addressed by the saved 32-bit argmax (a broadcast
  // view: nothing that large is allocated).
  const Tensor huge = Tensor::zeros({1, 1, 1, 1}).expand({1, 1, 46341, 46341});
  REQUIRE_THROWS_WITH(max_pool2d_forward(huge, 2),
                      Contains("max_pool2d") && Contains("46341x46341") && Contains("2^31"));
  REQUIRE_NOTHROW(max_pool2d_forward(Tensor::zeros({1, 1, 1, 1}).expand({1, 1, 46340, 2}), 2));
}

namespace {

// Same bits, element by element: equal values with the same sign of zero, or NaN in both.
bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) {
    return false;
  }
  const Tensor ad = a.to(DType::f64).contiguous(), bd = b.to(DType::f64).contiguous();
  const auto av = ad.data<double>(), bv = bd.data<double>();
  for (std::size_t i = 0; i < av.size(); ++i) {
    const bool both_nan = std::isnan(av[i]) && std::isnan(bv[i]);
    if (!both_nan && (av[i] != bv[i] || std::signbit(av[i]) != std::signbit(bv[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

TEST_CASE("max_pool2d_relu gives relu then max_pool2d bit for bit, forward and backward",
          "[max_pool2d][max_pool2d_relu]") {
  // Values from {-2, -1, -0, +0, 1, 2} with a few NaN and -inf: most windows tie, many hold only
  // values <= 0 (no gradient then, and the sign of the zero that wins), some hold a NaN. The 2x2
  // cases run rows of 17, 8, 7 and 1 outputs through the vector kernel's chunks of 16, 8, 4 and 1;
  // the others take the general loop.
  const DType dtype = GENERATE(DType::f32, DType::f64);
  const std::vector<MaxPoolCase> cases{
      {{2, 3, 6, 34}, 2, {}},
      {{1, 2, 4, 16}, 2, {}},
      {{1, 2, 4, 14}, 2, {}},
      {{1, 2, 4, 2}, 2, {}},
      {{2, 2, 5, 9}, 2, {}},
      {{2, 2, 7, 7}, 3, {.stride = 2, .padding = 1}},
      {{1, 2, 8, 7}, {3, 2}, {.stride = Size2d{2, 1}, .padding = 1, .dilation = 2}},
      {{1, 1, 5, 5}, 3, {.stride = 1}},
  };
  const std::vector<double> pick{-2.0, -1.0, -0.0, 0.0, 1.0, 2.0};
  for (const MaxPoolCase& c : cases) {
    CAPTURE(to_string(c.x), c.kernel.h, c.kernel.w, dtype_name(dtype));
    Rng rng(17);
    std::vector<double> v(static_cast<std::size_t>(shape_numel(c.x)));
    for (double& e : v) {
      const double u = rng.uniform(0.0, 1.0);
      e = u < 0.02   ? std::numeric_limits<double>::quiet_NaN()
          : u < 0.04 ? -std::numeric_limits<double>::infinity()
                     : pick[static_cast<std::size_t>(rng.randint(6))];
    }
    const Variable fused_x(Tensor::from_vector(c.x, v, dtype), true);
    const Variable apart_x(Tensor::from_vector(c.x, v, dtype), true);
    const Variable fused = max_pool2d_relu(fused_x, c.kernel, c.o);
    const Variable apart = max_pool2d(relu(apart_x), c.kernel, c.o);
    REQUIRE(same_bits(fused.data(), apart.data()));
    REQUIRE(same_bits(max_pool2d_relu_forward(fused_x.data(), c.kernel, c.o), apart.data()));
    const Tensor dy = randn(fused.data().shape(), dtype, rng);
    fused.backward(dy);
    apart.backward(dy);
    REQUIRE(same_bits(fused_x.grad(), apart_x.grad()));
  }
}

TEST_CASE("max_pool2d_relu backward matches central differences", "[max_pool2d_relu][gradcheck]") {
  // Random normal inputs: no ties, and no window maximum within the step of 0.
  for (const Shape& s : {Shape{2, 3, 6, 6}, Shape{1, 2, 7, 7}}) {
    CAPTURE(to_string(s));
    Rng rng(8);
    const Size2d kernel = s[3] == 6 ? Size2d{2} : Size2d{3};
    const MaxPool2dOptions o =
        s[3] == 6 ? MaxPool2dOptions{} : MaxPool2dOptions{.stride = 2, .padding = 1};
    require_gradcheck(
        [&](const std::vector<Variable>& in) { return max_pool2d_relu(in[0], kernel, o); },
        {leaf(s, rng)});
  }
}
