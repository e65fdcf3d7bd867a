// The direct stride-1 convolution (layers/conv2d_direct.h), which float32 Conv2d uses on
// processors with AVX-512: y, dx, dW and db against the float64 convolution (im2col + GEMM, the
// path whose gradients the float64 gradchecks prove) over map sizes that fill 16-lane chunks
// whole, by rows and across rows, channel counts that are not multiples of the tile, groups,
// padding, dilation, rectangular kernels and batches that split unevenly across threads.
#include <catch2/catch.hpp>

#include "core/error.h"
#include "layers/conv2d.h"
#include "layers/conv2d_direct.h"
#include "tests/layers/layer_test_helpers.h"

using namespace normlab;
using namespace normlab::test;
using Catch::Contains;

namespace {

struct Grads {
  Tensor y, dx, dw, db;
};

Grads conv2d_grads(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& dy,
                   const Conv2dParams& p) {
  const Variable xv(x, true), wv(w, true), bv(b, true);
  const Variable y = conv2d(xv, wv, bv, p);
  y.backward(dy);
  return {y.data(), xv.grad(), wv.grad(), bv.grad()};
}

}  // namespace

TEST_CASE("float32 conv2d with stride 1 matches the float64 convolution", "[conv2d][direct]") {
  struct Case {
    Shape x;
    std::int64_t O;
    Size2d kernel;
    Conv2dParams params;
  };
  const auto [shape, O, kernel, p] = GENERATE(values<Case>({
      // Conv2d takes the direct kernel for maps of 16×16 and more, and for smaller maps with up to
      // 64·288 weights per group; for the forward and dx alone, maps of 8×8 and more with up to
      // 64·576 (layers/conv2d_geometry.cpp). Other small maps take the batched GEMM.
      {{3, 16, 32, 32}, 16, 3, {.padding = 1}},  // rows of two whole chunks, 2 + 1 images
      {{2, 9, 16, 16}, 13, 3, {.padding = 1}},   // 13 channels: a partial tile of 8
      {{1, 24, 14, 14}, 20, 3, {.padding = 1}},  // rows of 14 lanes of 16
      {{5, 24, 14, 14}, 20, 3, {.padding = 1}},  // and a batch that splits unevenly
      {{3, 64, 8, 8}, 64, 3, {.padding = 1}},    // ResNet-20's last stage: direct y, dx; GEMM dW
      {{3, 64, 7, 7}, 128, 3, {.padding = 1}},   // the tiny CNN's last conv: the batched GEMM
      {{2, 12, 28, 28}, 8, 3, {.padding = 1}},   // a chunk and a partial chunk per row
      {{1, 10, 8, 8}, 16, 3, {.padding = 1}},    // chunks across rows, compressed stores
      {{1, 8, 7, 7}, 10, 3, {.padding = 1}},
      {{1, 16, 11, 19}, 12, {3, 5}, {.padding = {1, 2}}},
      {{1, 16, 12, 12}, 12, 3, {.padding = 2, .dilation = 2}},
      {{1, 16, 9, 10}, 16, 3, {}},  // no padding: the output is smaller
      {{2, 16, 16, 16}, 32, 3, {.padding = 1, .groups = 2}},
      {{4, 3, 20, 20}, 32, 3, {.padding = 1}},    // an RGB input: dx by col2im, dW by GEMM
      {{1, 12, 6, 6}, 12, 3, {.padding = 2}},     // p > d(k − 1): dx by col2im
      {{1, 8, 3, 3}, 8, 3, {.padding = 1}},       // fewer positions than one chunk
      {{1, 64, 16, 16}, 72, 3, {.padding = 1}},   // many taps per weight-gradient tile
      {{40, 64, 16, 16}, 24, 3, {.padding = 1}},  // several blocks of images per thread in dW
  }));
  CAPTURE(to_string(shape), O, kernel.h, kernel.w, p.padding.h, p.dilation.h, p.groups);
  Rng rng(17);
  const Tensor x = randn(shape, DType::f64, rng);
  const Tensor w = randn({O, shape[1] / p.groups, kernel.h, kernel.w}, DType::f64, rng);
  const Tensor b = randn({O}, DType::f64, rng);
  const Tensor y64 = conv2d_forward(x, w, b, p);
  const Tensor dy = randn(y64.shape(), DType::f64, rng);
  const Grads ref = conv2d_grads(x, w, b, dy, p);
  const Grads got =
      conv2d_grads(x.to(DType::f32), w.to(DType::f32), b.to(DType::f32), dy.to(DType::f32), p);
  // float32 sums of up to 64·9 products (y, dx) and 3·32·32 (dW): a few float roundings of the
  // largest value. A wrong tap, a shifted chunk or a lost channel is off by O(1).
  require_close(got.y, ref.y, 2e-6, "y");
  require_close(got.dx, ref.dx, 2e-6, "dx");
  require_close(got.dw, ref.dw, 2e-6, "dw");
  require_close(got.db, ref.db, 2e-6, "db");
}

TEST_CASE("the direct convolution's plan rejects a strided window", "[conv2d][direct][errors]") {
  const Window2d strided{.kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2};
  REQUIRE_THROWS_WITH(DirectConv2dPlan(4, 8, 8, strided),
                      Contains("conv2d (direct)") && Contains("stride 2x2") && Contains("8x8"));
}

TEST_CASE("the direct convolution's plan lays the outputs out whole", "[conv2d][direct]") {
  if (!direct_conv2d_supported()) {
    SUCCEED("no AVX-512 here: Conv2d takes im2col + GEMM, which the float64 tests cover");
    return;
  }
  // One image, one channel, a 1×1 kernel with weight 1 and padding 0: y must equal x exactly at
  // every position, for widths that fill chunks whole, by rows and across rows.
  for (const std::int64_t width : {1, 5, 8, 15, 16, 17, 28, 32, 33}) {
    CAPTURE(width);
    const Window2d win{.kernel_h = 1, .kernel_w = 1};
    const DirectConv2dPlan plan(1, 3, width, win);
    std::vector<float> x(static_cast<std::size_t>(3 * width));
    for (std::size_t i = 0; i < x.size(); ++i) {
      x[i] = static_cast<float>(i + 1);
    }
    std::vector<float> xp(static_cast<std::size_t>(plan.padded_size()), 0.0F);
    std::vector<float> packed(static_cast<std::size_t>(plan.packed_weight_size(1)));
    const float one = 1.0F;
    plan.pack_weights(&one, nullptr, 1, packed.data());
    plan.pad_image(x.data(), xp.data());
    std::vector<float> y(x.size(), -1.0F);
    plan.convolve(xp.data(), packed.data(), 1, y.data());
    REQUIRE(y == x);
  }
}
