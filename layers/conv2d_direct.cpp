// layers/conv2d_direct.cpp: the direct stride-1 convolution (layers/conv2d_direct.h).
//
// The forward tile is 8 output channels × up to 3 chunks of 16 positions, held in 8·3 = 24 of the
// 32 zmm registers. For each of the K taps k = (c, i, j) it loads the 3 chunks of the padded image
// shifted by the tap's offset, broadcasts the 8 weights w[o][k] and adds their products: 24 fused
// multiply-adds for 3 + 8 loads, so the FMA units, not the loads, set the pace. Nothing is copied
// per tap: where im2col + GEMM writes the column matrix (K × oH·oW) and OpenBLAS then packs it
// again, this reads the padded image (C × Hp·Wp) in place.
//
// The weight gradient's tile is 4 channels × 6 taps: per chunk it loads 6 shifted chunks of the
// padded image and 4 chunks of dy and adds 24 products into 16-lane sums, whose lanes are added
// together once per block of images, 8 sums at a time.
#include "layers/conv2d_direct.h"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <memory>

#include "core/error.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define NORMLAB_HAS_DIRECT_CONV 1
#include <immintrin.h>
#else
#define NORMLAB_HAS_DIRECT_CONV 0
#endif

namespace normlab {

namespace {

constexpr std::int64_t kLanes = 16;  // floats in a zmm register
constexpr int kTileChannels = 8;     // of the forward tile
constexpr int kTileChunks = 3;       // of the forward tile

#if NORMLAB_HAS_DIRECT_CONV

struct TileArgs {
  const float* xp;             // padded image
  const std::int64_t* offset;  // per tap
  std::int64_t K;
  const float* wt;    // the tile's kTileChannels packed weights of each tap: wt[k·8 + o]
  const float* bias;  // the tile's kTileChannels biases (zero where there is none)
  float* y;           // the tile's first channel
  std::int64_t L;     // oH·oW: channel stride of y
  int channels;       // of the tile's 8, those that exist (the last tile may have fewer)
};

// One tile: 8 channels × kChunks chunks starting at the chunks q0[v], stored (kept lanes only,
// packed) at y + out[v]. The loops over channels and chunks unroll fully, so acc lives in
// registers.
template <int kChunks>
__attribute__((target("avx512f"))) void convolve_tile(const TileArgs& a, const std::int64_t* q0,
                                                      const std::int64_t* out,
                                                      const std::uint32_t* keep) {
  constexpr int kChannels = kTileChannels;
  __m512 acc[kChannels * kChunks];
#pragma GCC unroll 8
  for (int o = 0; o < kChannels; ++o) {
    const __m512 b = _mm512_set1_ps(a.bias[o]);
#pragma GCC unroll 3
    for (int v = 0; v < kChunks; ++v) {
      acc[o * kChunks + v] = b;
    }
  }
  const float* base[kChunks];
#pragma GCC unroll 3
  for (int v = 0; v < kChunks; ++v) {
    base[v] = a.xp + q0[v];
  }
  const float* wk = a.wt;
  for (std::int64_t k = 0; k < a.K; ++k, wk += kChannels) {
    const std::int64_t d = a.offset[k];
    __m512 xv[kChunks];
#pragma GCC unroll 3
    for (int v = 0; v < kChunks; ++v) {
      xv[v] = _mm512_loadu_ps(base[v] + d);
    }
#pragma GCC unroll 8
    for (int o = 0; o < kChannels; ++o) {
      const __m512 w = _mm512_set1_ps(wk[o]);
#pragma GCC unroll 3
      for (int v = 0; v < kChunks; ++v) {
        acc[o * kChunks + v] = _mm512_fmadd_ps(w, xv[v], acc[o * kChunks + v]);
      }
    }
  }
#pragma GCC unroll 3
  for (int v = 0; v < kChunks; ++v) {
    const auto mask = static_cast<__mmask16>(keep[v]);
    const bool prefix = (keep[v] & (keep[v] + 1U)) == 0;  // the kept lanes come first
    for (int o = 0; o < a.channels; ++o) {
      if (prefix) {
        _mm512_mask_storeu_ps(a.y + o * a.L + out[v], mask, acc[o * kChunks + v]);
      } else {
        _mm512_mask_compressstoreu_ps(a.y + o * a.L + out[v], mask, acc[o * kChunks + v]);
      }
    }
  }
}

void convolve_tile_any(const TileArgs& a, int nv, const std::int64_t* q0, const std::int64_t* out,
                       const std::uint32_t* keep) {
  switch (nv) {
    case 3:
      convolve_tile<3>(a, q0, out, keep);
      break;
    case 2:
      convolve_tile<2>(a, q0, out, keep);
      break;
    default:
      convolve_tile<1>(a, q0, out, keep);
      break;
  }
}

// dW tile: kChannels channels × kTaps taps starting at (o0, k0), summed over every chunk of the
// grid of each of a few images (their padded images P floats apart, their dy grids D floats apart),
// so that the 16 lanes of a sum are added together once per few images, not once per image.
struct GradTileArgs {
  const float* xp;
  const float* dyq;  // the tile's first channel, rows `grid` apart
  std::int64_t grid, images, P, D;
  const std::int64_t* offset;  // the tile's first tap
  float* dw;                   // (o0, k0), rows K apart
  std::int64_t K;
};

// The lane sums of 8 vectors, s[i] = Σ_l v[i][l], by a tree that adds 8 vectors' halves, then
// quarters, then pairs side by side: 23 shuffles and adds where summing each vector alone takes
// 64. (The masked forms with an all-ones mask give the plain shuffles; the unmasked intrinsics
// trip GCC 12's -Wuninitialized.)
__attribute__((target("avx512f"))) void sum_lanes_of_8(const __m512* v, float* s) {
  constexpr __mmask16 kAll = 0xFFFF;
  __m512 halves[4];  // halves[i]: lanes 0-7 sum to s[2i], lanes 8-15 to s[2i + 1]
  for (std::int64_t i = 0; i < 4; ++i) {
    const __m512 a = v[2 * i], b = v[2 * i + 1];
    halves[i] = _mm512_add_ps(_mm512_mask_shuffle_f32x4(a, kAll, a, b, 0x44),
                              _mm512_mask_shuffle_f32x4(a, kAll, a, b, 0xEE));
  }
  __m512 quarters[2];  // quarters[j]: 128-bit block b sums to s[4j + b]
  for (std::int64_t j = 0; j < 2; ++j) {
    const __m512 a = halves[2 * j], b = halves[2 * j + 1];
    quarters[j] = _mm512_add_ps(_mm512_mask_shuffle_f32x4(a, kAll, a, b, 0x88),
                                _mm512_mask_shuffle_f32x4(a, kAll, a, b, 0xDD));
  }
  const __m512 a = quarters[0], b = quarters[1];
  // per block b: lanes 0, 1 sum to s[b], lanes 2, 3 to s[b + 4]
  const __m512 pairs = _mm512_add_ps(_mm512_mask_shuffle_ps(a, kAll, a, b, 0x44),
                                     _mm512_mask_shuffle_ps(a, kAll, a, b, 0xEE));
  const __m512 sums = _mm512_add_ps(pairs, _mm512_mask_permute_ps(pairs, kAll, pairs, 0xB1));
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 2, 6, 10, 14, 0, 0, 0, 0, 0, 0, 0, 0);
  _mm512_mask_storeu_ps(s, 0xFF, _mm512_mask_permutexvar_ps(sums, kAll, order, sums));
}

template <int kChannels, int kTaps>
__attribute__((target("avx512f"))) void weight_grad_tile(const GradTileArgs& a) {
  __m512 acc[kChannels * kTaps];
#pragma GCC unroll 32
  for (int i = 0; i < kChannels * kTaps; ++i) {
    acc[i] = _mm512_setzero_ps();
  }
  for (std::int64_t n = 0; n < a.images; ++n) {
    const float* xp = a.xp + n * a.P;
    const float* dyq = a.dyq + n * a.D;
    for (std::int64_t q0 = 0; q0 < a.grid; q0 += kLanes) {
      __m512 xv[kTaps];
#pragma GCC unroll 8
      for (int t = 0; t < kTaps; ++t) {
        xv[t] = _mm512_loadu_ps(xp + q0 + a.offset[t]);
      }
#pragma GCC unroll 8
      for (int o = 0; o < kChannels; ++o) {
        const __m512 d = _mm512_loadu_ps(dyq + o * a.grid + q0);
#pragma GCC unroll 8
        for (int t = 0; t < kTaps; ++t) {
          acc[o * kTaps + t] = _mm512_fmadd_ps(d, xv[t], acc[o * kTaps + t]);
        }
      }
    }
  }
  constexpr int kSums = kChannels * kTaps, kGroups = (kSums + 7) / 8;
  float sums[kGroups * 8];
#pragma GCC unroll 3
  for (std::int64_t g = 0; g < kGroups; ++g) {
    __m512 group[8];
#pragma GCC unroll 8
    for (std::int64_t i = 0; i < 8; ++i) {
      group[i] = g * 8 + i < kSums ? acc[g * 8 + i] : _mm512_setzero_ps();
    }
    sum_lanes_of_8(group, sums + g * 8);
  }
#pragma GCC unroll 8
  for (int o = 0; o < kChannels; ++o) {
#pragma GCC unroll 8
    for (int t = 0; t < kTaps; ++t) {
      a.dw[o * a.K + t] += sums[o * kTaps + t];
    }
  }
}

template <int kChannels>
void weight_grad_tile_taps(const GradTileArgs& a, int kt) {
  switch (kt) {
    case 6:
      weight_grad_tile<kChannels, 6>(a);
      break;
    case 5:
      weight_grad_tile<kChannels, 5>(a);
      break;
    case 4:
      weight_grad_tile<kChannels, 4>(a);
      break;
    case 3:
      weight_grad_tile<kChannels, 3>(a);
      break;
    case 2:
      weight_grad_tile<kChannels, 2>(a);
      break;
    default:
      weight_grad_tile<kChannels, 1>(a);
      break;
  }
}

void weight_grad_tile_any(const GradTileArgs& a, int ot, int kt) {
  switch (ot) {
    case 4:
      weight_grad_tile_taps<4>(a, kt);
      break;
    case 3:
      weight_grad_tile_taps<3>(a, kt);
      break;
    case 2:
      weight_grad_tile_taps<2>(a, kt);
      break;
    default:
      weight_grad_tile_taps<1>(a, kt);
      break;
  }
}

#endif

}  // namespace

bool direct_conv2d_supported() {
#if NORMLAB_HAS_DIRECT_CONV
  static const bool supported = __builtin_cpu_supports("avx512f") != 0;
  return supported;
#else
  return false;
#endif
}

DirectConv2dPlan::DirectConv2dPlan(std::int64_t C, std::int64_t H, std::int64_t W,
                                   const Window2d& win)
    : channels_(C),
      height_(H),
      width_(W),
      padded_height_(H + 2 * win.pad_h),
      padded_width_(W + 2 * win.pad_w),
      out_height_(win.out_h(H)),
      out_width_(win.out_w(W)),
      pad_top_(win.pad_h),
      pad_left_(win.pad_w) {
  if (win.stride_h != 1 || win.stride_w != 1 || out_height_ < 1 || out_width_ < 1) {
    throw ValueError(
        fmt::format("conv2d (direct): needs stride 1 and an output of at least 1x1, "
                    "got stride {}x{} on a {}x{} input",
                    win.stride_h, win.stride_w, H, W));
  }
  for (std::int64_t c = 0; c < C; ++c) {
    for (std::int64_t i = 0; i < win.kernel_h; ++i) {
      for (std::int64_t j = 0; j < win.kernel_w; ++j) {
        offsets_.push_back((c * padded_height_ + i * win.dilation_h) * padded_width_ +
                           j * win.dilation_w);
      }
    }
  }
  // Padded-grid positions q = oh·Wp + ow, up to the last output (oH − 1, oW − 1).
  grid_positions_ = (out_height_ - 1) * padded_width_ + out_width_;
  // The forward's chunks: row by row (each chunk within one row, stored with a mask of its first
  // lanes) when that fills the lanes as well as the padded grid does, or nearly so for a short
  // kernel (few taps per store, and a masked store is cheaper than a compressing one); otherwise
  // 16 consecutive grid positions, whose real outputs a compressing store packs into y.
  const std::int64_t per_row = (out_width_ + kLanes - 1) / kLanes;
  const double row_fill = static_cast<double>(out_width_) / static_cast<double>(per_row * kLanes);
  const double grid_fill = static_cast<double>(out_width_) / static_cast<double>(padded_width_);
  if (row_fill >= grid_fill || (taps() < 64 && row_fill >= 0.75)) {
    for (std::int64_t oh = 0; oh < out_height_; ++oh) {
      for (std::int64_t j0 = 0; j0 < out_width_; j0 += kLanes) {
        const std::int64_t lanes = std::min(kLanes, out_width_ - j0);
        chunks_.push_back({oh * padded_width_ + j0, oh * out_width_ + j0, (1U << lanes) - 1U});
      }
    }
    return;
  }
  for (std::int64_t q0 = 0; q0 < grid_positions_; q0 += kLanes) {
    std::uint32_t keep = 0;
    for (std::int64_t l = 0; l < kLanes; ++l) {
      const std::int64_t q = q0 + l;
      if (q < grid_positions_ && q % padded_width_ < out_width_) {
        keep |= 1U << l;
      }
    }
    chunks_.push_back(
        {q0, (q0 / padded_width_) * out_width_ + std::min(q0 % padded_width_, out_width_), keep});
  }
}

void DirectConv2dPlan::pad_image(const float* x, float* xp) const {
  for (std::int64_t c = 0; c < channels_; ++c) {
    for (std::int64_t h = 0; h < height_; ++h) {
      std::copy_n(x + (c * height_ + h) * width_, width_,
                  xp + (c * padded_height_ + h + pad_top_) * padded_width_ + pad_left_);
    }
  }
}

std::int64_t DirectConv2dPlan::weight_tiles(std::int64_t O) const {
  return (O + kTileChannels - 1) / kTileChannels;
}

std::int64_t DirectConv2dPlan::packed_weight_size(std::int64_t O) const {
  return weight_tiles(O) * kTileChannels * (taps() + 1);
}

void DirectConv2dPlan::pack_weight_tile(const float* w, std::int64_t O, std::int64_t t,
                                        float* packed) const {
  const std::int64_t K = taps(), o0 = t * kTileChannels;
  const std::int64_t n = std::min<std::int64_t>(kTileChannels, O - o0);
  float* tile = packed + t * K * kTileChannels;
  for (std::int64_t k = 0; k < K; ++k) {
    for (std::int64_t j = 0; j < kTileChannels; ++j) {
      tile[k * kTileChannels + j] = j < n ? w[(o0 + j) * K + k] : 0.0F;
    }
  }
}

void DirectConv2dPlan::pack_biases(const float* bias, std::int64_t O, float* packed) const {
  float* biases = packed + weight_tiles(O) * taps() * kTileChannels;
  for (std::int64_t o = 0; o < weight_tiles(O) * kTileChannels; ++o) {
    biases[o] = bias != nullptr && o < O ? bias[o] : 0.0F;
  }
}

void DirectConv2dPlan::pack_weights(const float* w, const float* bias, std::int64_t O,
                                    float* packed) const {
  for (std::int64_t t = 0; t < weight_tiles(O); ++t) {
    pack_weight_tile(w, O, t, packed);
  }
  pack_biases(bias, O, packed);
}

void DirectConv2dPlan::convolve(const float* xp, const float* packed, std::int64_t O,
                                float* y) const {
#if NORMLAB_HAS_DIRECT_CONV
  const auto n_chunks = static_cast<std::int64_t>(chunks_.size());
  const std::int64_t K = taps(), tiles = (O + kTileChannels - 1) / kTileChannels;
  const float* biases = packed + tiles * K * kTileChannels;
  std::int64_t q0[kTileChunks], out[kTileChunks];
  std::uint32_t keep[kTileChunks];
  // Chunks outer, channels inner: the rows of the padded image that a few chunks read stay in L1
  // while every tile of channels passes over them.
  for (std::int64_t c0 = 0; c0 < n_chunks; c0 += kTileChunks) {
    const int nv = static_cast<int>(std::min<std::int64_t>(kTileChunks, n_chunks - c0));
    for (int v = 0; v < nv; ++v) {
      const Chunk& ch = chunks_[static_cast<std::size_t>(c0 + v)];
      q0[v] = ch.q0, out[v] = ch.out, keep[v] = ch.keep;
    }
    for (std::int64_t t = 0; t < tiles; ++t) {
      const std::int64_t o0 = t * kTileChannels;
      const TileArgs a{xp,
                       offsets_.data(),
                       K,
                       packed + t * K * kTileChannels,
                       biases + o0,
                       y + o0 * out_height_ * out_width_,
                       out_height_ * out_width_,
                       static_cast<int>(std::min<std::int64_t>(kTileChannels, O - o0))};
      convolve_tile_any(a, nv, q0, out, keep);
    }
  }
#else
  (void)xp, (void)packed, (void)O, (void)y;
  throw ValueError("conv2d (direct): this build has no direct kernel");
#endif
}

void DirectConv2dPlan::spread_output(const float* dy, std::int64_t O, float* dyq) const {
  for (std::int64_t o = 0; o < O; ++o) {
    for (std::int64_t oh = 0; oh < out_height_; ++oh) {
      std::copy_n(dy + (o * out_height_ + oh) * out_width_, out_width_,
                  dyq + o * grid_size() + oh * padded_width_);
    }
  }
}

void DirectConv2dPlan::accumulate_weight_grad(const float* xp, const float* dyq,
                                              std::int64_t images, std::int64_t O,
                                              float* dw) const {
#if NORMLAB_HAS_DIRECT_CONV
  constexpr std::int64_t kTileTaps = 6, kGradChannels = 4;
  const std::int64_t K = taps();
  for (std::int64_t o0 = 0; o0 < O; o0 += kGradChannels) {
    const int ot = static_cast<int>(std::min(kGradChannels, O - o0));
    for (std::int64_t k0 = 0; k0 < K; k0 += kTileTaps) {
      const int kt = static_cast<int>(std::min(kTileTaps, K - k0));
      weight_grad_tile_any({xp, dyq + o0 * grid_size(), grid_size(), images, padded_size(),
                            O * grid_size(), offsets_.data() + k0, dw + o0 * K + k0, K},
                           ot, kt);
    }
  }
#else
  (void)xp, (void)dyq, (void)images, (void)O, (void)dw;
  throw ValueError("conv2d (direct): this build has no direct kernel");
#endif
}

// One parallel region: the threads pack the weights tile by tile, each zero-fills its own padded
// image (first touched by the thread that uses it), then they share the images. Packing and
// zero-filling on the calling thread alone kept the other thread waiting (the tiny CNN at batch 2).
void direct_conv2d_forward(const float* x, const float* w, const float* b, float* y, std::int64_t N,
                           std::int64_t G, std::int64_t Cg, std::int64_t H, std::int64_t W,
                           std::int64_t Og, const Window2d& win, bool parallel) {
  const DirectConv2dPlan plan(Cg, H, W, win);
  const std::int64_t K = plan.taps(), L = win.out_h(H) * win.out_w(W);
  const std::int64_t S = plan.packed_weight_size(Og), tiles = plan.weight_tiles(Og);
  const int slots = parallel ? omp_get_max_threads() : 1;
  const std::int64_t P = plan.padded_size();
  const auto packed = std::make_unique_for_overwrite<float[]>(static_cast<std::size_t>(G * S));
  const auto padded = std::make_unique_for_overwrite<float[]>(static_cast<std::size_t>(slots * P));
#pragma omp parallel if (parallel)
  {
    float* xp = padded.get() + omp_get_thread_num() * P;
    std::fill_n(xp, P, 0.0F);  // the borders stay zero: pad_image writes the interior only
#pragma omp for schedule(static)
    for (std::int64_t i = 0; i < G * tiles; ++i) {
      const std::int64_t gr = i / tiles;
      plan.pack_weight_tile(w + gr * Og * K, Og, i % tiles, packed.get() + gr * S);
      if (i % tiles == 0) {
        plan.pack_biases(b != nullptr ? b + gr * Og : nullptr, Og, packed.get() + gr * S);
      }
    }
#pragma omp for schedule(static)
    for (std::int64_t n = 0; n < N; ++n) {
      for (std::int64_t gr = 0; gr < G; ++gr) {
        plan.pad_image(x + (n * G + gr) * Cg * H * W, xp);
        plan.convolve(xp, packed.get() + gr * S, Og, y + (n * G + gr) * Og * L);
      }
    }
  }
}

void direct_conv2d_weight_grad(const float* x, const float* dy, float* dw, std::int64_t N,
                               std::int64_t G, std::int64_t Cg, std::int64_t H, std::int64_t W,
                               std::int64_t Og, const Window2d& win, bool parallel) {
  const DirectConv2dPlan plan(Cg, H, W, win);
  const std::int64_t K = plan.taps(), L = win.out_h(H) * win.out_w(W), OK = G * Og * K;
  const int slots = parallel ? omp_get_max_threads() : 1;
  const std::int64_t P = plan.padded_size(), D = Og * plan.grid_size();
  // Blocks of images whose padded images and dy grids fit in about 256 KiB, at least one per
  // thread: a tile then finds its rows of dy in L1 or near it. 1 MiB made the weight gradient
  // 1.1-2x slower at the ResNet-20 and tiny-CNN shapes (a single-thread kernel timing).
  const std::int64_t fit = std::max<std::int64_t>(1, (std::int64_t{1} << 16) / (P + D));
  // (at least one image per block: an empty batch has no blocks and leaves dw as it is)
  const std::int64_t B = std::max<std::int64_t>(1, std::min(fit, (N + slots - 1) / slots));
  const std::int64_t blocks = (N + B - 1) / B;
  // Each thread zero-fills its own buffers and partial dW inside the region (thread 0 adds into dw
  // itself); the partial sums are added to dw in thread order, on the threads.
  const auto padded =
      std::make_unique_for_overwrite<float[]>(static_cast<std::size_t>(slots * B * P));
  const auto grids =
      std::make_unique_for_overwrite<float[]>(static_cast<std::size_t>(slots * B * D));
  const auto parts =
      std::make_unique_for_overwrite<float[]>(static_cast<std::size_t>((slots - 1) * OK));
#pragma omp parallel if (parallel)
  {
    const int t = omp_get_thread_num();
    float* xp = padded.get() + t * B * P;
    float* dyq = grids.get() + t * B * D;
    float* dw_t = t == 0 ? dw : parts.get() + (t - 1) * OK;
    std::fill_n(xp, B * P, 0.0F);   // borders stay 0
    std::fill_n(dyq, B * D, 0.0F);  // columns ≥ oW too
    if (t > 0) {
      std::fill_n(dw_t, OK, 0.0F);
    }
#pragma omp for schedule(static)
    for (std::int64_t blk = 0; blk < blocks; ++blk) {
      const std::int64_t n0 = blk * B, nb = std::min(B, N - n0);
      for (std::int64_t gr = 0; gr < G; ++gr) {
        for (std::int64_t i = 0; i < nb; ++i) {
          plan.pad_image(x + ((n0 + i) * G + gr) * Cg * H * W, xp + i * P);
          plan.spread_output(dy + ((n0 + i) * G + gr) * Og * L, Og, dyq + i * D);
        }
        plan.accumulate_weight_grad(xp, dyq, nb, Og, dw_t + gr * Og * K);
      }
    }
    for (int s = 1; s < omp_get_num_threads(); ++s) {  // the team's partial sums, in order
      const float* part = parts.get() + (s - 1) * OK;
#pragma omp for simd schedule(static)
      for (std::int64_t i = 0; i < OK; ++i) {
        dw[i] += part[i];
      }
    }
  }
}

}  // namespace normlab
