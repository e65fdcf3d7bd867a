// layers/conv2d_geometry.cpp: checking a convolution's operands and choosing its path
// (layers/conv2d_geometry.h).
#include "layers/conv2d_geometry.h"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <string>

#include "core/error.h"
#include "core/threads.h"
#include "layers/conv2d_direct.h"

namespace normlab::detail {

namespace {

// A GEMM over one small image (8×8: L = 64 columns) runs below the machine's peak, so images are
// put side by side until a GEMM has about kTargetColumns columns, keeping at least one block per
// thread when the batch allows it. Side by side costs copies (y out of the block's buffer, dy into
// one), so a map of 16×16 or more gets one GEMM per image, written straight into y: 256 columns
// instead of 1024 made training 1.06-1.09x faster for ResNet-20, 1.12x for VGG and 0.99-1.15x for
// the tiny CNN (docs/benchmarks.md).
constexpr std::int64_t kTargetColumns = 256;

// On maps below 16×16 (put side by side unless the batch is small) an image has only a few chunks
// of 16 positions, and the direct kernel reads every weight once per few chunks, where the batched
// GEMM reads it once per block of images. It still wins with up to 64·288 weights per group: the
// tiny CNN's 32 → 64 at 14×14 ran 1.2-1.3x faster forward + backward, and its training on 1×28×28
// 1.07x. With ResNet-20's last stage (64 → 64 at 8×8, 64·576 weights) training ran 0.89x at batch
// 128, and the tiny CNN's 64 → 128 at 8×8 ran slower forward + backward (alternating pairs of
// `normlab bench`), so from there on dW is left to the GEMM, at every batch size, and so are the
// forward and dx unless kDirectForwardMapWeights says otherwise.
constexpr std::int64_t kDirectSmallMapWeights = std::int64_t{64} * 288;

// The forward and dx alone (dW stays on the GEMM) also win on 8×8 maps and up with up to 64·576
// weights per group, ResNet-20's last stage: its 64 → 64 conv at 8×8 ran 1.2x faster forward +
// backward at batch 32 and 128. The direct weight gradient there sums its 16 lanes too often
// (few chunks per image) and was slower than the GEMM. Larger layers at 8×8 (VGG's 256 → 256)
// keep the GEMM, which runs them near 80% of the peak, and so does 64 → 128 at 7×7 (the tiny CNN),
// where the direct forward + backward ran 0.9x.
constexpr std::int64_t kDirectForwardMinColumns = 64;
constexpr std::int64_t kDirectForwardMapWeights = std::int64_t{64} * 576;

// The direct weight gradient sums each of its 16-lane tiles once per block of images; with fewer
// taps than this (a first layer on 1 or 3 channels) that fixed cost outweighs the GEMM it replaces.
constexpr std::int64_t kDirectWeightGradTaps = 64;

// A convolution with more multiply-adds than this splits its images across the threads. Under the
// earlier 64 · 32768 the tiny CNN's first layer on 1×28×28 at batch 8 (1.8e6) ran on one thread
// while the other waited; split, that training step ran 1.044x faster (alternating pairs).
constexpr std::int64_t kParallelConvMacs = 8 * kParallelGrain;

std::int64_t images_per_gemm(std::int64_t N, std::int64_t L, int threads) {
  std::int64_t B =
      std::max<std::int64_t>(1, (kTargetColumns + L - 1) / std::max<std::int64_t>(L, 1));
  B = std::min(B, std::max<std::int64_t>(1, (N + threads - 1) / threads));
  return std::min(B, std::max<std::int64_t>(N, 1));
}

std::string operands(const Tensor& x, const Tensor& w, const Tensor& b) {
  std::string s = fmt::format("x: {}, w: {}", to_string(x.shape()), to_string(w.shape()));
  return b.defined() ? s + fmt::format(", b: {}", to_string(b.shape())) : s;
}

}  // namespace

ConvGeometry conv_geometry(const Tensor& x, const Tensor& w, const Tensor& b,
                           const Conv2dParams& p) {
  check_defined("conv2d", x, "x");
  check_defined("conv2d", w, "w");
  if (x.ndim() != 4 || w.ndim() != 4) {
    throw ShapeError(fmt::format("conv2d: expected x (N, C, H, W) and w (O, C/groups, kH, kW) ({})",
                                 operands(x, w, b)));
  }
  ConvGeometry g{};
  g.G = p.groups;
  g.N = x.dim(0), g.C = x.dim(1), g.H = x.dim(2), g.W = x.dim(3), g.O = w.dim(0);
  if (g.G < 1 || g.O % g.G != 0) {
    throw ValueError(fmt::format("conv2d: {} output channels are not divisible into {} groups ({})",
                                 g.O, g.G, operands(x, w, b)));
  }
  if (g.C != w.dim(1) * g.G) {
    const std::string groups = g.G > 1 ? fmt::format(" ({} groups of {})", g.G, w.dim(1)) : "";
    throw ShapeError(fmt::format("conv2d: input has {} channels but weight expects {}{} ({})", g.C,
                                 w.dim(1) * g.G, groups, operands(x, w, b)));
  }
  if (b.defined() && (b.ndim() != 1 || b.dim(0) != g.O)) {
    throw ShapeError(fmt::format("conv2d: bias must have shape [{}] ({})", g.O, operands(x, w, b)));
  }
  check_same_dtype("conv2d", x, w);
  if (b.defined()) {
    check_same_dtype("conv2d", x, b);
  }
  g.win = Window2d{.kernel_h = w.dim(2),
                   .kernel_w = w.dim(3),
                   .stride_h = p.stride.h,
                   .stride_w = p.stride.w,
                   .pad_h = p.padding.h,
                   .pad_w = p.padding.w,
                   .dilation_h = p.dilation.h,
                   .dilation_w = p.dilation.w};
  check_window("conv2d", g.win);
  g.oH = g.win.out_h(g.H), g.oW = g.win.out_w(g.W);
  if (g.oH < 1 || g.oW < 1) {
    throw ShapeError(fmt::format(
        "conv2d: kernel {}x{} with dilation {} does not fit the input {}x{} padded by {} ({})",
        g.win.kernel_h, g.win.kernel_w, p.dilation.repr(), g.H, g.W, p.padding.repr(),
        operands(x, w, b)));
  }
  g.Cg = g.C / g.G, g.Og = g.O / g.G;
  g.K = g.Cg * g.win.kernel_h * g.win.kernel_w, g.L = g.oH * g.oW;
  g.pointwise = g.win.kernel_h == 1 && g.win.kernel_w == 1 && g.win.stride_h == 1 &&
                g.win.stride_w == 1 && g.win.pad_h == 0 && g.win.pad_w == 0;
  g.parallel = g.N > 1 && omp_get_max_threads() > 1 && g.N * g.O * g.K * g.L > kParallelConvMacs;
  g.B = images_per_gemm(g.N, g.L, g.parallel ? omp_get_max_threads() : 1);
  const bool direct_capable = x.dtype() == DType::f32 && !g.pointwise && g.win.stride_h == 1 &&
                              g.win.stride_w == 1 && direct_conv2d_supported();
  const bool large_map = g.L >= kTargetColumns, few_weights = g.Og * g.K <= kDirectSmallMapWeights;
  g.direct = direct_capable &&
             (large_map || few_weights ||
              (g.L >= kDirectForwardMinColumns && g.Og * g.K <= kDirectForwardMapWeights));
  g.direct_weight_grad =
      direct_capable && (large_map || few_weights) && g.K >= kDirectWeightGradTaps;
  return g;
}

// dx of a stride-1 convolution is itself a stride-1 convolution: with p'ₐ = dₐ(kₐ − 1) − pₐ ≥ 0,
//   dx[c][h][w] = Σ_o Σ_(i,j) dy[o][h − p'_h + d_h·i][w − p'_w + d_w·j] · W[o][c][kH−1−i][kW−1−j],
// a correlation of dy with the kernel flipped in space and transposed in (o, c). So dx takes
// im2col(dy) and one GEMM, like the forward: no col2im scatter-add, no zero-filled column matrix.
// Its column matrix has Og·kH·kW rows against col2im's Cg·kH·kW, so a convolution that widens
// (Og > Cg) takes col2im, which moves fewer bytes (1.13x on the tiny CNN, whose convolutions all
// widen). A strided convolution, or padding beyond d(k − 1), takes col2im too.
bool dx_is_a_convolution_of_dy(const ConvGeometry& g) {
  return g.win.stride_h == 1 && g.win.stride_w == 1 &&
         g.win.pad_h <= g.win.dilation_h * (g.win.kernel_h - 1) &&
         g.win.pad_w <= g.win.dilation_w * (g.win.kernel_w - 1);
}
bool dx_by_transposed_conv(const ConvGeometry& g) {
  return g.Og <= g.Cg && dx_is_a_convolution_of_dy(g);
}

// With the direct kernel the transposed convolution needs no column matrix, so it serves a
// widening convolution too; its output channels are x's, in tiles of 8, so a group of fewer than 8
// (an RGB input) keeps col2im.
bool dx_by_direct_conv(const ConvGeometry& g) {
  return g.direct && g.Cg >= 8 && dx_is_a_convolution_of_dy(g);
}

// The window that slides over dy (oH, oW) to give dx (H, W) in dx_by_transposed_conv.
Window2d transposed_window(const ConvGeometry& g) {
  Window2d t = g.win;
  t.pad_h = g.win.dilation_h * (g.win.kernel_h - 1) - g.win.pad_h;
  t.pad_w = g.win.dilation_w * (g.win.kernel_w - 1) - g.win.pad_w;
  return t;
}

// wt[gr][c][(o·kH + i)·kW + j] = w[gr·Og + o][c][kH−1−i][kW−1−j]: per group a (Cg, Og·kH·kW)
// matrix, the left operand of dx's GEMM. Written row by row of wt (threads over rows when the
// convolution uses threads): 512 → 512 channels are 2.4M weights per backward.
template <class T>
void flip_transpose_weight(const T* w, const ConvGeometry& g, T* wt) {
  const std::int64_t kk = g.win.kernel_h * g.win.kernel_w;
#pragma omp parallel for if (g.parallel) schedule(static)
  for (std::int64_t row = 0; row < g.G * g.Cg; ++row) {
    const std::int64_t gr = row / g.Cg, c = row % g.Cg;
    T* dst = wt + row * g.Og * kk;
    for (std::int64_t o = 0; o < g.Og; ++o) {
      const T* src = w + ((gr * g.Og + o) * g.Cg + c) * kk;
      for (std::int64_t t = 0; t < kk; ++t) {
        dst[o * kk + t] = src[kk - 1 - t];
      }
    }
  }
}

template void flip_transpose_weight<float>(const float*, const ConvGeometry&, float*);
template void flip_transpose_weight<double>(const double*, const ConvGeometry&, double*);

}  // namespace normlab::detail
