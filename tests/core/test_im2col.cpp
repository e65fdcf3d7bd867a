// im2col/col2im: against a direct gather over many geometries, the adjoint identity
// ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩, a hand-computed example, and the errors.
#include <catch2/catch.hpp>

#include "core/error.h"
#include "core/im2col.h"
#include "core/random.h"
#include "core/tensor_math.h"

using namespace normlab;

namespace {

// The definition, one element at a time.
Tensor im2col_reference(const Tensor& x, const Window2d& win) {
  const std::int64_t C = x.dim(0), H = x.dim(1), W = x.dim(2);
  const std::int64_t oH = win.out_h(H), oW = win.out_w(W);
  Tensor col = Tensor::zeros({C * win.kernel_h * win.kernel_w, oH * oW}, DType::f64);
  for (std::int64_t c = 0; c < C; ++c) {
    for (std::int64_t i = 0; i < win.kernel_h; ++i) {
      for (std::int64_t j = 0; j < win.kernel_w; ++j) {
        for (std::int64_t oh = 0; oh < oH; ++oh) {
          for (std::int64_t ow = 0; ow < oW; ++ow) {
            const std::int64_t h = oh * win.stride_h - win.pad_h + i * win.dilation_h;
            const std::int64_t w = ow * win.stride_w - win.pad_w + j * win.dilation_w;
            if (h >= 0 && h < H && w >= 0 && w < W) {
              col.set({(c * win.kernel_h + i) * win.kernel_w + j, oh * oW + ow}, x.get({c, h, w}));
            }
          }
        }
      }
    }
  }
  return col;
}

}  // namespace

TEST_CASE("im2col matches the direct gather and col2im is its adjoint", "[im2col]") {
  // C, H, W, kH, kW, sH, sW, pH, pW, dH, dW
  const std::vector<std::array<std::int64_t, 11>> cases{
      {1, 5, 5, 3, 3, 1, 1, 0, 0, 1, 1},
      {2, 6, 7, 3, 3, 2, 2, 1, 1, 1, 1},
      {3, 7, 5, 3, 2, 1, 2, 2, 1, 2, 1},
      {2, 4, 4, 1, 1, 1, 1, 0, 0, 1, 1},
      {1, 9, 8, 3, 3, 3, 2, 0, 3, 2, 3},
      {2, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1},
      {1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1},
      {2, 5, 6, 2, 4, 2, 3, 1, 2, 1, 1},
      // stride 1 and oW = W: the shifted-plane copy (dilated, oH ≠ H, taps wholly in the padding)
      {2, 6, 5, 3, 3, 1, 1, 2, 2, 2, 2},
      {2, 5, 6, 2, 3, 1, 1, 0, 1, 1, 1},
      {1, 2, 2, 3, 3, 1, 1, 3, 3, 3, 3},
  };
  Rng rng(7);
  for (const auto& k : cases) {
    const Window2d win{.kernel_h = k[3],
                       .kernel_w = k[4],
                       .stride_h = k[5],
                       .stride_w = k[6],
                       .pad_h = k[7],
                       .pad_w = k[8],
                       .dilation_h = k[9],
                       .dilation_w = k[10]};
    CAPTURE(k);
    const Tensor x = randn({k[0], k[1], k[2]}, DType::f64, rng);
    const Tensor col = im2col(x, win);
    REQUIRE(max_abs_diff(col, im2col_reference(x, win)) == 0.0);
    const Tensor c = randn(col.shape(), DType::f64, rng);
    const Tensor back = col2im(c, x.shape(), win);
    REQUIRE(dot_all(col, c) == Approx(dot_all(x, back)).epsilon(1e-12));
    // float32 gives the same gather.
    const Tensor col32 = im2col(x.to(DType::f32), win);
    REQUIRE(max_abs_diff(col32.to(DType::f64), col.to(DType::f32).to(DType::f64)) == 0.0);
    const Tensor back32 = col2im(c.to(DType::f32), x.shape(), win);
    REQUIRE(max_abs_diff(back32.to(DType::f64), back) < 1e-5);
  }
}

TEST_CASE("im2col of a 1x3x3 image with a 2x2 kernel and padding 1, by hand", "[im2col]") {
  const Tensor x = Tensor::from_vector({1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9}, DType::f32);
  const Window2d win{
      .kernel_h = 2, .kernel_w = 2, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1};
  // Output 2x2; the windows' top-left input corners are (-1,-1), (-1,1), (1,-1), (1,1).
  const Tensor col = im2col(x, win);
  REQUIRE(col.shape() == Shape{4, 4});
  const std::vector<double> want{0, 0, 0, 5,   // kernel (0,0)
                                 0, 0, 4, 6,   // kernel (0,1)
                                 0, 2, 0, 8,   // kernel (1,0)
                                 1, 3, 7, 9};  // kernel (1,1)
  REQUIRE(max_abs_diff(col, Tensor::from_vector({4, 4}, want, DType::f32)) == 0.0);
  // Every pixel is read exactly once by this non-overlapping sweep, so col2im(col) == x.
  REQUIRE(max_abs_diff(col2im(col, x.shape(), win), x) == 0.0);
}

TEST_CASE("im2col and col2im reject bad windows and shapes", "[im2col][errors]") {
  const Tensor x = Tensor::zeros({2, 4, 4});
  REQUIRE_THROWS_AS(im2col(x, Window2d{.kernel_h = 0}), ValueError);
  REQUIRE_THROWS_AS(im2col(x, Window2d{.stride_w = 0}), ValueError);
  REQUIRE_THROWS_AS(im2col(x, Window2d{.pad_h = -1}), ValueError);
  REQUIRE_THROWS_WITH(im2col(x, Window2d{.kernel_h = 5, .kernel_w = 5}),
                      Catch::Contains("does not fit") && Catch::Contains("[2, 4, 4]"));
  REQUIRE_THROWS_AS(im2col(Tensor::zeros({4, 4}), Window2d{}), ShapeError);
  REQUIRE_THROWS_AS(im2col(Tensor::zeros({1, 4, 4}, DType::i32), Window2d{}), DTypeError);
  REQUIRE_THROWS_WITH(col2im(Tensor::zeros({3, 16}), {2, 4, 4}, Window2d{}),
                      Catch::Contains("[3, 16]") && Catch::Contains("[2, 16]"));
}
