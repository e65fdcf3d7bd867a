// Conv2d: float64 gradcheck of input, weight and bias over strides, padding, dilation, groups,
// 1×1 kernels, rectangular kernels and batch 1; a hand-computed forward; the threaded batch path
// against image-by-image results; an empty batch; the module's init, repr and errors.
#include <catch2/catch.hpp>

#include "core/error.h"
#include "layers/conv2d.h"
#include "tests/layers/layer_test_helpers.h"

using namespace normlab;
using namespace normlab::test;
using Catch::Contains;

TEST_CASE("conv2d backward matches central differences", "[conv2d][gradcheck]") {
  struct Case {
    Shape x;
    std::int64_t O;
    Size2d kernel;
    Conv2dParams params;
    bool bias;
  };
  const std::vector<Case> cases{
      {{2, 3, 5, 5}, 4, 3, {.padding = 1}, true},
      {{2, 2, 7, 6}, 3, 3, {.stride = 2, .padding = 1}, true},
      {{1, 2, 8, 7}, 2, 3, {.padding = 2, .dilation = 2}, true},
      {{2, 4, 5, 4}, 6, 3, {.padding = 1, .groups = 2}, true},
      {{2, 4, 3, 3}, 4, 1, {}, true},              // 1×1: the pointwise path
      {{1, 3, 4, 4}, 2, 1, {.stride = 2}, false},  // 1×1 with stride: im2col path
      {{1, 3, 5, 6}, 2, {2, 3}, {.stride = {1, 2}, .padding = {1, 0}}, false},
      {{3, 6, 6, 5}, 3, 3, {.stride = 2, .padding = 1, .dilation = 2, .groups = 3}, true},
      {{2, 1, 1, 1}, 2, 1, {}, true},                        // 1×1 spatial
      {{1, 2, 4, 5}, 2, {2, 3}, {.padding = {1, 0}}, true},  // dx as a transposed conv, p' = (0, 2)
      {{2, 4, 5, 4}, 4, 3, {.padding = 1, .groups = 2}, true},  // transposed, grouped
      {{1, 2, 4, 5}, 3, {2, 3}, {.padding = {1, 0}}, true},     // O > C: dx by col2im
      {{2, 2, 3, 3}, 2, 1, {.padding = 1}, false},  // stride 1, p > d(k − 1): dx by col2im
  };
  for (const Case& c : cases) {
    CAPTURE(to_string(c.x), c.O, c.kernel.h, c.kernel.w, c.params.groups);
    Rng rng(42);
    const Variable x = leaf(c.x, rng);
    const Variable w = leaf({c.O, c.x[1] / c.params.groups, c.kernel.h, c.kernel.w}, rng);
    const Variable b = c.bias ? leaf({c.O}, rng) : Variable();
    const Conv2dParams p = c.params;
    const auto f = [&p, bias = c.bias](const std::vector<Variable>& in) {
      return conv2d(in[0], in[1], bias ? in[2] : Variable(), p);
    };
    std::vector<Variable> inputs{x, w};
    if (c.bias) {
      inputs.push_back(b);
    }
    require_gradcheck(f, inputs);
  }
}

TEST_CASE("conv2d computes only the gradients that are needed", "[conv2d]") {
  Rng rng(3);
  const Variable x(randn({2, 2, 4, 4}, DType::f64, rng), false);
  const Variable w = leaf({3, 2, 3, 3}, rng);
  const Variable b(randn({3}, DType::f64, rng), false);
  const auto f = [](const std::vector<Variable>& in) { return conv2d(in[0], in[1], in[2]); };
  require_gradcheck(f, {x, w, b});  // only w requires a gradient
  REQUIRE_FALSE(x.grad().defined());
  REQUIRE_FALSE(b.grad().defined());
}

TEST_CASE("conv2d on an empty batch: an empty output, dx, and dW and db of zeros", "[conv2d]") {
  // float32 32 -> 64 at 14×14 takes the direct kernel for dW (where the processor has AVX-512),
  // 3 -> 4 the GEMMs; float64 always the GEMMs.
  struct Case {
    std::int64_t C, O;
    DType dtype;
  };
  for (const Case c : {Case{32, 64, DType::f32}, Case{3, 4, DType::f32}, Case{3, 4, DType::f64}}) {
    CAPTURE(c.C, c.O, dtype_name(c.dtype));
    const Variable x(Tensor::zeros({0, c.C, 14, 14}, c.dtype), true);
    const Variable w(Tensor::ones({c.O, c.C, 3, 3}, c.dtype), true);
    const Variable b(Tensor::ones({c.O}, c.dtype), true);
    const Variable y = conv2d(x, w, b, {.padding = 1});
    REQUIRE(y.shape() == Shape{0, c.O, 14, 14});
    y.backward(Tensor::zeros({0, c.O, 14, 14}, c.dtype));
    REQUIRE(x.grad().shape() == Shape{0, c.C, 14, 14});
    REQUIRE(max_abs_diff(w.grad(), Tensor::zeros(w.shape(), c.dtype)) == 0.0);
    REQUIRE(max_abs_diff(b.grad(), Tensor::zeros(b.shape(), c.dtype)) == 0.0);
  }
}

TEST_CASE("conv2d forward by hand", "[conv2d]") {
  // x = 1..9 in a 3×3 plane, w = [[1, 0], [0, -1]], b = 0.5: y[i][j] = x[i][j] − x[i+1][j+1] + 0.5
  const Tensor x = Tensor::from_vector({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9}, DType::f64);
  const Tensor w = Tensor::from_vector({1, 1, 2, 2}, {1, 0, 0, -1}, DType::f64);
  const Tensor b = Tensor::from_vector({1}, {0.5}, DType::f64);
  const Tensor y = conv2d_forward(x, w, b);
  REQUIRE(y.shape() == Shape{1, 1, 2, 2});
  for (std::int64_t i = 0; i < 4; ++i) {
    REQUIRE(y.reshape({4}).get({i}) == -3.5);
  }
  // Padding 1, stride 2: window (oh, ow) starts at (2·oh − 1, 2·ow − 1).
  const Tensor y2 = conv2d_forward(x, w, Tensor(), {.stride = 2, .padding = 1});
  REQUIRE(y2.shape() == Shape{1, 1, 2, 2});
  REQUIRE(y2.get({0, 0, 0, 0}) == -1.0);  // −x[0][0]
  REQUIRE(y2.get({0, 0, 0, 1}) == -3.0);  // −x[0][2]
  REQUIRE(y2.get({0, 0, 1, 0}) == -7.0);  // −x[2][0]
  REQUIRE(y2.get({0, 0, 1, 1}) == -4.0);  // x[1][1] − x[2][2]
}

TEST_CASE("conv2d on a batch equals image-by-image results", "[conv2d][threads]") {
  // Large maps take one GEMM per image (split across threads); small ones are put side by side in
  // blocks of images, the last block partial when B does not divide N.
  struct Case {
    Shape x;
    std::int64_t O;
    Size2d kernel;
    Conv2dParams params;
  };
  const auto [shape, O, kernel, p] = GENERATE(values<Case>({
      {{8, 8, 16, 16}, 16, 3, {.padding = 1}},
      {{5, 4, 4, 4}, 6, 3, {.padding = 1}},               // blocks of small maps
      {{7, 4, 3, 3}, 6, 3, {.padding = 1, .groups = 2}},  // blocks with groups
      {{5, 4, 3, 3}, 6, 1, {}},                           // pointwise, side by side
      {{6, 3, 5, 5}, 2, 3, {.stride = 2}},
      {{9, 4, 5, 4}, 6, 3, {.padding = 2, .dilation = 2, .groups = 2}},  // dilated, in blocks
      // O <= C/groups: dx as a transposed convolution, also in blocks and with groups
      {{8, 16, 16, 16}, 8, 3, {.padding = 1}},
      {{5, 6, 4, 4}, 4, 3, {.padding = 1}},
      {{7, 4, 3, 3}, 4, 3, {.padding = 1, .groups = 2}},
      // Large enough for threads, on the GEMMs (a small map with many weights; a stride of 2), with
      // two blocks on one thread: its first block writes its partial dW, the second adds to it.
      {{20, 64, 6, 6}, 128, 3, {.padding = 1}},
      {{16, 32, 16, 16}, 64, 3, {.stride = 2, .padding = 1}},
  }));
  CAPTURE(to_string(shape), O);
  Rng rng(9);
  const std::int64_t N = shape[0];
  const Variable x = leaf(shape, rng, DType::f32);
  const Variable w = leaf({O, shape[1] / p.groups, kernel.h, kernel.w}, rng, DType::f32);
  const Variable b = leaf({O}, rng, DType::f32);
  const Variable y = conv2d(x, w, b, p);
  const Tensor dy = randn(y.shape(), DType::f32, rng);
  y.backward(dy);
  Tensor dw_sum = Tensor::zeros(w.shape(), DType::f32);
  for (std::int64_t n = 0; n < N; ++n) {
    const Variable xn(x.data().narrow(0, n, 1).contiguous(), true);
    const Variable wn(w.data(), true);
    const Variable yn = conv2d(xn, wn, b.detach(), p);
    require_close(yn.data(), y.data().narrow(0, n, 1), 1e-6, "y");
    yn.backward(dy.narrow(0, n, 1).contiguous());
    require_close(xn.grad(), x.grad().narrow(0, n, 1), 1e-6, "dx");
    add_(dw_sum, wn.grad());
  }
  require_close(w.grad(), dw_sum, 1e-5, "dw");
}

TEST_CASE("Conv2d module: shapes, default init bounds, forward_no_grad, repr", "[conv2d]") {
  Rng rng(5);
  Conv2d conv(4, 6, 3, rng, {.stride = 2, .padding = 1, .groups = 2});
  REQUIRE(conv.weight().shape() == Shape{6, 2, 3, 3});
  REQUIRE(conv.bias().shape() == Shape{6});
  const double bound = 1.0 / std::sqrt(2.0 * 9.0);  // fan_in = (C/G)·kH·kW = 18
  REQUIRE(max_abs(conv.weight().data()) <= bound);
  REQUIRE(max_abs(conv.bias().data()) <= bound);
  REQUIRE(max_abs(conv.weight().data()) > 0.8 * bound);
  const Tensor x = randn({2, 4, 7, 7}, DType::f32, rng);
  const Tensor y = conv.forward_no_grad(x);
  REQUIRE(y.shape() == Shape{2, 6, 4, 4});
  REQUIRE(max_abs_diff(y, conv.forward(Variable(x)).data()) == 0.0);
  REQUIRE(conv.to_string() == "Conv2d(4, 6, kernel_size=3, stride=2, padding=1, groups=2)");
  Conv2d plain(3, 8, {1, 3}, rng, {.bias = false, .dtype = DType::f64});
  REQUIRE(plain.to_string() == "Conv2d(3, 8, kernel_size=(1, 3), bias=False)");
  REQUIRE(plain.parameters().size() == 1);
  REQUIRE(plain.weight().dtype() == DType::f64);
}

TEST_CASE("conv2d errors name the op and every shape", "[conv2d][errors]") {
  Rng rng(1);
  const Variable x(Tensor::zeros({8, 3, 32, 32}));
  const Variable w(Tensor::zeros({16, 4, 3, 3}));
  REQUIRE_THROWS_AS(conv2d(x, w, Variable()), ShapeError);
  REQUIRE_THROWS_WITH(conv2d(x, w, Variable()),
                      "conv2d: input has 3 channels but weight expects 4 (x: [8, 3, 32, 32], w: "
                      "[16, 4, 3, 3])");
  const Variable w2(Tensor::zeros({16, 2, 3, 3}));
  REQUIRE_THROWS_WITH(conv2d(Variable(Tensor::zeros({8, 6, 8, 8})), w2, Variable(), {.groups = 2}),
                      Contains("weight expects 4 (2 groups of 2)"));
  REQUIRE_THROWS_WITH(conv2d(Variable(Tensor::zeros({1, 3, 2, 2})),
                             Variable(Tensor::zeros({2, 3, 3, 3})), Variable()),
                      Contains("does not fit") && Contains("[1, 3, 2, 2]"));
  REQUIRE_THROWS_WITH(conv2d(Variable(Tensor::zeros({3, 4, 4})), w, Variable()),
                      Contains("conv2d") && Contains("[3, 4, 4]"));
  REQUIRE_THROWS_WITH(
      conv2d(Variable(Tensor::zeros({1, 4, 4, 4})), w, Variable(Tensor::zeros({3}))),
      Contains("bias must have shape [16]") && Contains("b: [3]"));
  REQUIRE_THROWS_AS(conv2d(Variable(Tensor::zeros({1, 4, 4, 4})), w, Variable(), {.stride = 0}),
                    ValueError);
  REQUIRE_THROWS_AS(conv2d(Variable(Tensor::zeros({1, 4, 4, 4}, DType::f64)), w, Variable()),
                    DTypeError);
  REQUIRE_THROWS_WITH(Conv2d(3, 4, 3, rng, {.groups = 2}), Contains("divisible by groups (2)"));
  REQUIRE_THROWS_AS(Conv2d(0, 4, 3, rng), ValueError);
  REQUIRE_THROWS_AS(Conv2d(3, 4, 0, rng), ValueError);
  REQUIRE_THROWS_AS(Conv2d(3, 4, 3, rng, {.padding = -1}), ValueError);
  REQUIRE_THROWS_AS(Conv2d(3, 4, 3, rng, {.dtype = DType::i32}), DTypeError);
}
