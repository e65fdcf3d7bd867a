// layers/conv2d_gemm.cpp: the im2col + GEMM convolution (layers/conv2d_gemm.h).
#include "layers/conv2d_gemm.h"

#include <omp.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "core/gemm.h"
#include "core/im2col.h"
#include "core/multiversion.h"

namespace normlab::detail {

namespace {

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

// Σ x[l] in double, the bias gradient's sum over one channel of one image, in vector lanes of
// double sums: compiled for AVX-512 and AVX2 (core/multiversion.h), which convert and add 8 and 4
// values per instruction where the baseline build adds 2.
NORMLAB_MULTIVERSION double sum_in_double(const float* x, std::int64_t n) {
  double acc = 0.0;
#pragma omp simd reduction(+ : acc)
  for (std::int64_t l = 0; l < n; ++l) {
    acc += static_cast<double>(x[l]);
  }
  return acc;
}
NORMLAB_MULTIVERSION double sum_in_double(const double* x, std::int64_t n) {
  double acc = 0.0;
#pragma omp simd reduction(+ : acc)
  for (std::int64_t l = 0; l < n; ++l) {
    acc += x[l];
  }
  return acc;
}

}  // namespace

// forward, per block of B images and group gr:
//   Y (Og, B·L) = b + W_gr (Og, K) · col (K, B·L);   y[n, gr] = Y[:, b·L : (b+1)·L]
// (Y starts as the bias and the GEMM adds onto it with β = 1: no zero-fill and no bias pass)
template <class T>
void conv2d_gemm_forward(const T* x, const T* w, const T* b, T* y, const ConvGeometry& g) {
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

// backward, per block of B images and group gr (each output optional, nullptr = not needed),
// with dY (Og, B·L) the block's dy side by side:
//   step 1  dW_gr += dY · colᵀ (B·L, K)  (per-thread partial sums, thread 0's in dW; a thread's
//                                          first block writes its sums instead of adding)
//   step 2  stride 1: dX_gr (Cg, B·H·W) = Wt_gr (Cg, Og·kH·kW) · im2col(dy)
//           (dx_by_transposed_conv, conv2d_geometry.cpp);
//           otherwise dcol = W_grᵀ (K, Og) · dY;  dx[n, gr] = col2im(dcol[:, b·L : (b+1)·L])
//   step 3  db_o   = Σ_n Σ_l dy[n][o][l]                          (double accumulators)
template <class T>
void conv2d_gemm_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db,
                          const ConvGeometry& g) {
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
#pragma omp parallel
    for (int s = 1; s < slots; ++s) {
      const T* part = dw_part.data() + sz(s - 1) * sz(OK);
      if (dw_written[sz(s)] == 0) {
        continue;  // the same on every thread, so every thread skips the same loops
      }
#pragma omp for simd schedule(static)
      for (std::int64_t i = 0; i < OK; ++i) {
        dw[i] += part[i];
      }
    }
  }
  if (db == nullptr) {
    return;
  }
#pragma omp parallel for if (g.parallel) schedule(static)
  for (std::int64_t o = 0; o < g.O; ++o) {  // step 3, in vector lanes of double sums
    double acc = 0.0;
    for (std::int64_t n = 0; n < g.N; ++n) {
      acc += sum_in_double(dy + (n * g.O + o) * g.L, g.L);
    }
    db[o] = static_cast<T>(acc);
  }
}

template void conv2d_gemm_forward<float>(const float*, const float*, const float*, float*,
                                         const ConvGeometry&);
template void conv2d_gemm_forward<double>(const double*, const double*, const double*, double*,
                                          const ConvGeometry&);
template void conv2d_gemm_backward<float>(const float*, const float*, const float*, float*, float*,
                                          float*, const ConvGeometry&);
template void conv2d_gemm_backward<double>(const double*, const double*, const double*, double*,
                                           double*, double*, const ConvGeometry&);

}  // namespace normlab::detail
