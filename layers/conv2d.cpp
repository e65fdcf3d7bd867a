// layers/conv2d.cpp: convolution as im2col + one GEMM per block of images and group (darknet's
// shape, with small images side by side so that each GEMM is large enough to run near peak).
// Each thread owns one column buffer, reused for every block and group it handles; blocks are
// split across threads when the batch is large. A 1×1 kernel with stride 1 and no padding on one
// image at a time skips im2col: the image itself is the column matrix. The backward's dx of a
// stride-1 convolution is a convolution of dy too (im2col of dy and one GEMM); strided ones use
// col2im. A float32 stride-1 convolution on AVX-512 takes the direct kernel of conv2d_direct.h
// instead (no column matrix) where it is faster: see kDirectSmallMapWeights and ConvGeometry.
#include "layers/conv2d.h"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <memory>
#include <tuple>
#include <type_traits>
#include <vector>

#include "autograd/node.h"
#include "core/error.h"
#include "core/gemm.h"
#include "core/threads.h"
#include "layers/conv2d_direct.h"
#include "layers/weighted_op.h"

namespace normlab {

namespace {

struct ConvGeometry {
  std::int64_t N, C, H, W, O, G, Cg, Og, oH, oW;
  std::int64_t K, L;  // K = Cg·kH·kW rows of col, L = oH·oW columns
  Window2d win;
  std::int64_t B;  // images side by side in one GEMM (small maps), see images_per_gemm
  bool pointwise;  // 1×1, stride 1, padding 0: col = x
  bool parallel;   // split the blocks of images across threads
  bool direct;     // float32, stride 1, on AVX-512, a map of 16×16 or few weights: the direct
                   // kernel (conv2d_direct.h) for the forward and dx; kDirectForwardMapWeights
  bool direct_weight_grad;  // and for dW: kDirectSmallMapWeights, kDirectWeightGradTaps
};

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
  g.parallel = g.N > 1 && omp_get_max_threads() > 1 && g.N * g.O * g.K * g.L > 64 * kParallelGrain;
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

int thread_slots(const ConvGeometry& g) {
  return g.parallel ? omp_get_max_threads() : 1;
}
std::size_t sz(std::int64_t n) {
  return static_cast<std::size_t>(n);
}

// Per-call work buffers that every use overwrites before reading: allocated without the zero-fill
// a std::vector would spend a sweep of memory on.
template <class T>
class Scratch {
 public:
  explicit Scratch(std::int64_t n)
      : data_(n > 0 ? std::make_unique_for_overwrite<T[]>(sz(n)) : nullptr) {}
  T* data() const { return data_.get(); }

 private:
  std::unique_ptr<T[]> data_;
};

// The images [n0, n0 + nb) of one block; with B = 1 the GEMMs read and write the tensors
// themselves (and a pointwise kernel needs no column matrix at all).
struct Block {
  std::int64_t n0, nb;
};
Block block_of(const ConvGeometry& g, std::int64_t blk) {
  const std::int64_t n0 = blk * g.B;
  return {n0, std::min(g.B, g.N - n0)};
}
std::int64_t num_blocks(const ConvGeometry& g) {
  return (g.N + g.B - 1) / g.B;
}

// col (K, B·L) of group gr of the block's images, side by side (row stride B·L).
template <class T>
void block_im2col(const T* x, const ConvGeometry& g, Block blk, std::int64_t gr, T* col) {
  for (std::int64_t i = 0; i < blk.nb; ++i) {
    im2col(x + ((blk.n0 + i) * g.C + gr * g.Cg) * g.H * g.W, g.Cg, g.H, g.W, g.win, col + i * g.L,
           g.B * g.L);
  }
}

// forward, per block of B images and group gr:
//   Y (Og, B·L) = b + W_gr (Og, K) · col (K, B·L);   y[n, gr] = Y[:, b·L : (b+1)·L]
// (Y starts as the bias and the GEMM adds onto it with β = 1: no zero-fill and no bias pass)
template <class T>
void conv2d_forward(const T* x, const T* w, const T* b, T* y, const ConvGeometry& g) {
  if constexpr (std::is_same_v<T, float>) {
    if (g.direct) {
      direct_conv2d_forward(x, w, b, y, g.N, g.G, g.Cg, g.H, g.W, g.Og, g.win, g.parallel);
      return;
    }
  }
  const std::int64_t BL = g.B * g.L;
  const bool direct = g.B == 1;
  const Scratch<T> cols(direct && g.pointwise ? 0 : thread_slots(g) * g.K * BL);
  const Scratch<T> outs(direct ? 0 : thread_slots(g) * g.Og * BL);
#pragma omp parallel for if (g.parallel) schedule(static)
  for (std::int64_t k = 0; k < num_blocks(g); ++k) {
    const Block blk = block_of(g, k);
    const auto t = sz(omp_get_thread_num());
    T* col = cols.data() == nullptr ? nullptr : cols.data() + t * sz(g.K * BL);
    for (std::int64_t gr = 0; gr < g.G; ++gr) {
      const T* colp = col;
      if (direct && g.pointwise) {
        colp = x + (blk.n0 * g.C + gr * g.Cg) * g.H * g.W;
      } else {
        block_im2col(x, g, blk, gr, col);
      }
      T* out = direct ? y + (blk.n0 * g.O + gr * g.Og) * g.L : outs.data() + t * sz(g.Og * BL);
      for (std::int64_t o = 0; b != nullptr && o < g.Og; ++o) {  // the GEMM adds onto the bias
        std::fill_n(out + o * BL, blk.nb * g.L, b[gr * g.Og + o]);
      }
      gemm<T>(false, false, g.Og, blk.nb * g.L, g.K, T{1}, w + gr * g.Og * g.K, g.K, colp, BL,
              b != nullptr ? T{1} : T{0}, out, BL);
      for (std::int64_t i = 0; !direct && i < blk.nb; ++i) {
        for (std::int64_t o = 0; o < g.Og; ++o) {
          std::copy_n(out + o * BL + i * g.L, g.L, y + ((blk.n0 + i) * g.O + gr * g.Og + o) * g.L);
        }
      }
    }
  }
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

// backward, per block of B images and group gr (each output optional, nullptr = not needed),
// with dY (Og, B·L) the block's dy side by side:
//   step 1  dW_gr += dY · colᵀ (B·L, K)  (per-thread partial sums, thread 0's in dW; a thread's
//                                          first block writes its sums instead of adding)
//   step 2  stride 1: dX_gr (Cg, B·H·W) = Wt_gr (Cg, Og·kH·kW) · im2col(dy) (see above);
//           otherwise dcol = W_grᵀ (K, Og) · dY;  dx[n, gr] = col2im(dcol[:, b·L : (b+1)·L])
//   step 3  db_o   = Σ_n Σ_l dy[n][o][l]                          (double accumulators)
template <class T>
void conv2d_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db,
                     const ConvGeometry& g) {
  if constexpr (std::is_same_v<T, float>) {
    if (dx != nullptr && dx_by_direct_conv(g)) {  // step 2 by the direct kernel, then dx is done
      std::vector<T> wflip(sz(g.G * g.Cg * g.Og * g.win.kernel_h * g.win.kernel_w));
      flip_transpose_weight(w, g, wflip.data());
      direct_conv2d_forward(dy, wflip.data(), nullptr, dx, g.N, g.G, g.Og, g.oH, g.oW, g.Cg,
                            transposed_window(g), g.parallel);
      dx = nullptr;
    }
    if (dw != nullptr && g.direct_weight_grad) {  // step 1, direct
      direct_conv2d_weight_grad(x, dy, dw, g.N, g.G, g.Cg, g.H, g.W, g.Og, g.win, g.parallel);
      dw = nullptr;
    }
  }
  const std::int64_t BL = g.B * g.L, col_size = g.K * BL, OK = g.O * g.K;  // col: (K, B·L)
  // dx by transposed convolution: im2col(dy) is (k_t, B·H·W) with k_t = Og·kH·kW, rows ld_t apart
  const std::int64_t HW = g.H * g.W, ld_t = g.B * HW, k_t = g.Og * g.win.kernel_h * g.win.kernel_w;
  const bool direct = g.B == 1, no_cols = direct && g.pointwise;
  const bool transposed = dx != nullptr && !no_cols && dx_by_transposed_conv(g);
  const Window2d twin = transposed_window(g);
  const int slots = thread_slots(g);
  const Scratch<T> cols(!no_cols && dw != nullptr ? slots * col_size : 0);
  const std::int64_t dx_slot = transposed ? k_t * ld_t + (direct ? 0 : g.Cg * ld_t) : col_size;
  const Scratch<T> dcols(!no_cols && dx != nullptr ? slots * dx_slot : 0);
  const Scratch<T> wt(transposed ? g.G * g.Cg * k_t : 0);
  if (transposed) {
    flip_transpose_weight(w, g, wt.data());
  }
  // dY side by side is read by dW's GEMM and by the strided dx; the transposed dx reads dy itself
  const bool gather_dy = !direct && (dw != nullptr || !transposed);
  const Scratch<T> dys(gather_dy ? slots * g.Og * BL : 0);
  // Thread 0 sums into dw itself, every other thread into its own partial dW. A thread's first
  // block writes its sums (β = 0), the later ones add to them, so nothing is zeroed first.
  const Scratch<T> dw_part(g.parallel && dw != nullptr ? (slots - 1) * OK : 0);
  std::vector<char> dw_written(sz(slots), 0);
#pragma omp parallel for if (g.parallel) schedule(static)
  for (std::int64_t k = 0; k < num_blocks(g); ++k) {
    const Block blk = block_of(g, k);
    const auto t = sz(omp_get_thread_num());
    T* dw_t = g.parallel && dw != nullptr && t > 0 ? dw_part.data() + (t - 1) * sz(OK) : dw;
    const T dw_beta = dw_written[t] != 0 ? T{1} : T{0};
    dw_written[t] = 1;
    for (std::int64_t gr = 0; gr < g.G; ++gr) {
      const T* dyp = dy + (blk.n0 * g.O + gr * g.Og) * g.L;
      if (gather_dy) {  // gather the block's dy side by side
        T* dyb = dys.data() + t * sz(g.Og * BL);
        for (std::int64_t i = 0; i < blk.nb; ++i) {
          for (std::int64_t o = 0; o < g.Og; ++o) {
            std::copy_n(dy + ((blk.n0 + i) * g.O + gr * g.Og + o) * g.L, g.L,
                        dyb + o * BL + i * g.L);
          }
        }
        dyp = dyb;
      }
      if (dw != nullptr) {  // step 1
        const T* colp = x + (blk.n0 * g.C + gr * g.Cg) * g.H * g.W;
        if (!no_cols) {
          block_im2col(x, g, blk, gr, cols.data() + t * sz(col_size));
          colp = cols.data() + t * sz(col_size);
        }
        gemm<T>(false, true, g.Og, g.K, blk.nb * g.L, T{1}, dyp, BL, colp, BL, dw_beta,
                dw_t + gr * g.Og * g.K, g.K);
      }
      if (transposed) {  // step 2, stride 1
        T* colt = dcols.data() + t * sz(dx_slot);
        for (std::int64_t i = 0; i < blk.nb; ++i) {
          im2col(dy + ((blk.n0 + i) * g.O + gr * g.Og) * g.L, g.Og, g.oH, g.oW, twin, colt + i * HW,
                 ld_t);
        }
        T* dxg = dx + (blk.n0 * g.C + gr * g.Cg) * HW;
        T* out = direct ? dxg : colt + k_t * ld_t;
        gemm<T>(false, false, g.Cg, blk.nb * HW, k_t, T{1}, wt.data() + gr * g.Cg * k_t, k_t, colt,
                ld_t, T{0}, out, ld_t);
        for (std::int64_t i = 0; !direct && i < blk.nb; ++i) {
          for (std::int64_t c = 0; c < g.Cg; ++c) {
            std::copy_n(out + c * ld_t + i * HW, HW,
                        dx + ((blk.n0 + i) * g.C + gr * g.Cg + c) * HW);
          }
        }
      } else if (dx != nullptr) {  // step 2, strided
        T* dxg = dx + (blk.n0 * g.C + gr * g.Cg) * HW;
        T* dcol = no_cols ? dxg : dcols.data() + t * sz(col_size);
        gemm<T>(true, false, g.K, blk.nb * g.L, g.Og, T{1}, w + gr * g.Og * g.K, g.K, dyp, BL, T{0},
                dcol, BL);
        for (std::int64_t i = 0; !no_cols && i < blk.nb; ++i) {
          col2im(dcol + i * g.L, g.Cg, g.H, g.W, g.win, dx + ((blk.n0 + i) * g.C + gr * g.Cg) * HW,
                 BL);
        }
      }
    }
  }
  if (dw != nullptr && dw_written[0] == 0) {  // no images: dW = 0
    std::fill_n(dw, OK, T{0});
  }
  if (dw != nullptr && g.parallel) {  // the partials of the threads that had blocks, in order
#pragma omp parallel for simd if (g.parallel) schedule(static)
    for (std::int64_t i = 0; i < OK; ++i) {
      T sum = dw[i];
      for (int s = 1; s < slots; ++s) {
        sum += dw_written[sz(s)] != 0 ? dw_part.data()[sz(s - 1) * sz(OK) + sz(i)] : T{0};
      }
      dw[i] = sum;
    }
  }
  if (db == nullptr) {
    return;
  }
#pragma omp parallel for if (g.parallel) schedule(static)
  for (std::int64_t o = 0; o < g.O; ++o) {  // step 3, in vector lanes of double sums
    double acc = 0.0;
    for (std::int64_t n = 0; n < g.N; ++n) {
      const T* dyo = dy + (n * g.O + o) * g.L;
#pragma omp simd reduction(+ : acc)
      for (std::int64_t l = 0; l < g.L; ++l) {
        acc += static_cast<double>(dyo[l]);
      }
    }
    db[o] = static_cast<T>(acc);
  }
}

struct Conv2dNode final : detail::WeightedNode {
  ConvGeometry g{};

  std::vector<Tensor> backward(const Tensor& dy) override {
    const bool need_dx = detail::needs_grad(*this, 0), need_dw = detail::needs_grad(*this, 1);
    const bool need_db = has_bias && detail::needs_grad(*this, 2);
    const Tensor dyc = dy.contiguous();
    Tensor dx = need_dx ? Tensor::empty({g.N, g.C, g.H, g.W}, dy.dtype()) : Tensor();
    // The direct weight gradient adds into dW; the GEMMs' first block writes it whole.
    const Shape dw_shape{g.O, g.Cg, g.win.kernel_h, g.win.kernel_w};
    Tensor dw = !need_dw               ? Tensor()
                : g.direct_weight_grad ? Tensor::zeros(dw_shape, dy.dtype())
                                       : Tensor::empty(dw_shape, dy.dtype());
    Tensor db = need_db ? Tensor::empty({g.O}, dy.dtype()) : Tensor();
    visit_float(dy.dtype(), "conv2d_backward", [&]<class T>() {
      conv2d_backward(
          dyc.data<T>().data(), need_dw ? x.data<T>().data() : nullptr,
          need_dx ? w.data<T>().data() : nullptr, need_dx ? dx.data<T>().data() : nullptr,
          need_dw ? dw.data<T>().data() : nullptr, need_db ? db.data<T>().data() : nullptr, g);
    });
    return input_grads(dx, dw, db);
  }
  std::string_view name() const override { return "conv2d"; }
};

}  // namespace

Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b,
                      const Conv2dParams& params) {
  const ConvGeometry g = conv_geometry(x, w, b, params);
  const Tensor xc = x.contiguous(), wc = w.contiguous();
  const Tensor bc = b.defined() ? b.contiguous() : Tensor();
  Tensor y = Tensor::empty({g.N, g.O, g.oH, g.oW}, x.dtype());
  visit_float(x.dtype(), "conv2d", [&]<class T>() {
    conv2d_forward(xc.data<T>().data(), wc.data<T>().data(),
                   bc.defined() ? bc.data<T>().data() : nullptr, y.data<T>().data(), g);
  });
  return y;
}

Variable conv2d(const Variable& x, const Variable& w, const Variable& b,
                const Conv2dParams& params) {
  const Tensor bias = b.defined() ? b.data() : Tensor();
  Tensor y = conv2d_forward(x.data(), w.data(), bias, params);
  return detail::weighted_output(std::move(y), x, w, b, [&] {
    auto node = std::make_shared<Conv2dNode>();
    node->g = conv_geometry(x.data(), w.data(), bias, params);
    return node;
  });
}

Conv2d::Conv2d(std::int64_t in_channels, std::int64_t out_channels, Size2d kernel_size, Rng& rng,
               const Conv2dOptions& options)
    : in_channels_(in_channels),
      out_channels_(out_channels),
      kernel_size_(kernel_size),
      params_{options.stride, options.padding, options.dilation, options.groups} {
  const std::int64_t G = options.groups;
  if (in_channels < 1 || out_channels < 1 || G < 1) {
    throw ValueError(
        fmt::format("Conv2d: in_channels ({}), out_channels ({}) and groups ({}) must be >= 1",
                    in_channels, out_channels, G));
  }
  if (in_channels % G != 0 || out_channels % G != 0) {
    throw ValueError(fmt::format(
        "Conv2d: in_channels ({}) and out_channels ({}) must both be divisible by groups ({})",
        in_channels, out_channels, G));
  }
  check_window("Conv2d", Window2d{kernel_size.h, kernel_size.w, options.stride.h, options.stride.w,
                                  options.padding.h, options.padding.w, options.dilation.h,
                                  options.dilation.w});
  std::tie(weight_, bias_) = detail::default_weight_and_bias(
      "Conv2d", {out_channels, in_channels / G, kernel_size.h, kernel_size.w}, options.bias,
      options.dtype, rng);
  register_parameter("weight", &weight_);
  if (bias_.defined()) {
    register_parameter("bias", &bias_);
  }
}

Variable Conv2d::forward(const Variable& x) {
  return conv2d(x, weight_, bias_, params_);
}

Tensor Conv2d::forward_no_grad(const Tensor& x) {
  return conv2d_forward(x, weight_.data(), bias_.defined() ? bias_.data() : Tensor(), params_);
}

std::string Conv2d::extra_repr() const {
  std::string s =
      fmt::format("{}, {}, kernel_size={}", in_channels_, out_channels_, kernel_size_.repr());
  if (params_.stride != Size2d(1)) {
    s += ", stride=" + params_.stride.repr();
  }
  if (params_.padding != Size2d(0)) {
    s += ", padding=" + params_.padding.repr();
  }
  if (params_.dilation != Size2d(1)) {
    s += ", dilation=" + params_.dilation.repr();
  }
  if (params_.groups != 1) {
    s += fmt::format(", groups={}", params_.groups);
  }
  return bias_.defined() ? s : s + ", bias=False";
}

}  // namespace normlab
