// layers/norm/set_norm_kernels.cpp: the family's fused forward and backward (set_norm_kernels.h).
// Structure: a parallel loop over sets (set_norm_forward / set_norm_backward) calls one kernel per
// set (forward_one_set, backward_one_set), compiled for AVX-512, AVX2 and the baseline
// (core/multiversion.h). The helpers below are always_inline so that each clone compiles its own
// copy of them for its instruction set. The per-set kernels only touch their own set and their own
// slice of the per-run partial sums, and LN's and RMSNorm's per-position dγ, dβ are summed by
// blocks of positions in set order, so any thread count gives the same bits.
#include "layers/norm/set_norm_kernels.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <type_traits>

#include "core/multiversion.h"
#include "core/threads.h"
#include "layers/norm/set_norm_loops.h"

namespace normlab {

AffineLayout per_channel_affine(const Shape& x, SetLayout sets) {
  const std::int64_t C = x[1], HW = numel_from(x, 2);
  if (HW == 0 || sets.inner == 0) {
    return {.kind = AffineLayout::Kind::per_run, .period = C, .stride = 1, .run = 1, .numel = C};
  }
  const std::int64_t channels_per_row = sets.inner / HW;
  return {.kind = AffineLayout::Kind::per_run,
          .period = C / channels_per_row,
          .stride = channels_per_row,
          .run = HW,
          .numel = C};
}

EstimatedStats moving_average_stats(const StatsRule& rule, std::int64_t s, double mean, double var,
                                    double eps) {
  double m = (1.0 - rule.momentum) * rule.running_mean[s] + rule.momentum * mean;
  double v = (1.0 - rule.momentum) * rule.running_scale[s] + rule.momentum * var;
  if (rule.round_to_float) {
    m = static_cast<double>(detail::to_float_or_inf(m));
    v = static_cast<double>(detail::to_float_or_inf(v));
  }
  return {m, 1.0 / std::sqrt(v + eps)};
}

namespace {

using detail::add_dy_sums;
using detail::add_shifted_sums;
using detail::scaled_dx_run;

// Rows of a chunk are reduced two-pass while they sit in L1 (2048 floats = 8 KiB).
constexpr std::int64_t kChunk = 2048;

// Positions per block of the per-position backward: its two accumulators of doubles take 8 KiB.
constexpr std::int64_t kPositionBlock = 512;

// The per-position backward takes its rows in groups whose x and dy fill about 1 MiB, so that its
// second sweep reads them from L2 (2 MiB per core here), next to the dγ, dβ they add into. 1 MiB
// was the fastest of 512 KiB, 1, 2 and 4 MiB for LayerNorm at (32, 64, 32, 32) and
// (128, 128, 16, 16), one `normlab bench --layer` timing each.
constexpr std::int64_t kPositionGroupBytes = std::int64_t{1} << 20;

// Count, mean and M2 = Σ(x − mean)² of the values merged so far (double).
struct Moments {
  double n = 0.0, mean = 0.0, m2 = 0.0;

  // Chan, Golub & LeVeque (1979): δ = μ_b − μ, M2 += M2_b + δ²·n·n_b/(n + n_b)
  [[gnu::always_inline]] void merge(double n_b, double mean_b, double m2_b) {
    const double total = n + n_b;
    const double delta = mean_b - mean;
    const double w = n_b / total;
    mean += delta * w;
    m2 += m2_b + delta * delta * n * w;
    n = total;
  }
};

// eq. D0 over one row of `len` values (the float64 statistics): two passes per chunk, chunks
// merged.
template <class T>
[[gnu::always_inline]] inline void add_row_moments(const T* x, std::int64_t len, Moments& acc) {
  for (std::int64_t c0 = 0; c0 < len; c0 += kChunk) {
    const std::int64_t n = std::min(kChunk, len - c0);
    const T* p = x + c0;
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (std::int64_t i = 0; i < n; ++i) {
      sum += static_cast<double>(p[i]);
    }
    const double mu = sum / static_cast<double>(n);
    double m2 = 0.0;
#pragma omp simd reduction(+ : m2)
    for (std::int64_t i = 0; i < n; ++i) {
      const double d = static_cast<double>(p[i]) - mu;
      m2 += d * d;
    }
    acc.merge(static_cast<double>(n), mu, m2);
  }
}

// μ as a float32 μ_hi = fl(μ) and the rest μ_lo = μ − μ_hi (exact in double), for the float32
// forward. x − μ_hi is then exact wherever it cancels (x within a factor of 2 of μ_hi, Sterbenz)
// and rounded once where it does not (|x − μ_hi| ≥ |μ_hi|/2), so x − μ keeps the relative
// precision of a float32 even for an input with mean 1e4, with no double in the loop.
struct SplitMean {
  float hi;
  double lo;
  explicit SplitMean(double mu) : hi(static_cast<float>(mu)), lo(mu - static_cast<double>(hi)) {}
};

// y = (x − μ)·scale + shift over n contiguous values. float64: in double. float32: in float, 16
// lanes per AVX-512 instruction and no conversions, as y = (x − μ_hi)·scale + (shift − μ_lo·scale)
// (SplitMean). Its error is a few roundings of x̂·scale and of y (the rounded x − μ_hi, scale,
// shift, the fused multiply-add), against the one rounding of y in double: far inside 1e-6 of
// max|y| (test_set_norm.cpp, also at mean 1e4). With the one-sweep statistics, the float32
// forward took about 1/4 less time (docs/normalization/performance.md).
template <class T>
[[gnu::always_inline]] inline void normalize_run(const T* x, std::int64_t n, double mu,
                                                 double scale, double shift, T* y) {
  if constexpr (std::is_same_v<T, float>) {
    const SplitMean m(mu);
    const float s = detail::to_float_or_inf(scale),
                t = detail::to_float_or_inf(shift - m.lo * scale);
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) {
      y[i] = (x[i] - m.hi) * s + t;
    }
  } else {
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) {
      y[i] = (x[i] - mu) * scale + shift;
    }
  }
}

// y_d = (x_d − μ)·rstd·γ_d + β_d over one row, with γ (kGamma) and β (kBeta) each present or
// not: fixed at compile time, so that each variant's loop has no branch and vectorizes. x̂ =
// (x − μ)·rstd is formed as in normalize_run (float32 from the split mean, float64 in double); γ
// and β then apply in T: x̂ is of order 1, so that adds a rounding or two of y itself, far inside
// 1e-6 of max|y| (test_set_norm.cpp). The AVX2 and AVX-512 clones fuse the multiply and add, the
// baseline rounds twice: their float32 y can differ in the last bit.
template <bool kGamma, bool kBeta, class T>
[[gnu::always_inline]] inline void normalize_positions_with(const T* x, std::int64_t n, double mu,
                                                            double rs, const T* gamma,
                                                            const T* beta, T* y) {
  // (float64 never uses the split: a double μ beyond float's range must not be converted)
  const SplitMean m(std::is_same_v<T, float> ? mu : 0.0);
  const float rs_f = detail::to_float_or_inf(std::is_same_v<T, float> ? rs : 0.0);
  const float shift_f = detail::to_float_or_inf(-m.lo * rs);
#pragma omp simd
  for (std::int64_t i = 0; i < n; ++i) {
    T v;
    if constexpr (std::is_same_v<T, float>) {  // as in normalize_run
      v = (x[i] - m.hi) * rs_f + shift_f;
    } else {
      v = (x[i] - mu) * rs;
    }
    if constexpr (kGamma) {
      v = v * gamma[i];
    }
    if constexpr (kBeta) {
      v = v + beta[i];
    }
    y[i] = v;
  }
}

// The variant of normalize_positions_with for the γ and β at hand (RMSNorm has γ and no β);
// without either, the plain normalize_run.
template <class T>
[[gnu::always_inline]] inline void normalize_positions(const T* x, std::int64_t n, double mu,
                                                       double rs, const T* gamma, const T* beta,
                                                       T* y) {
  if (gamma != nullptr && beta != nullptr) {
    normalize_positions_with<true, true>(x, n, mu, rs, gamma, beta, y);
  } else if (gamma != nullptr) {
    normalize_positions_with<true, false>(x, n, mu, rs, gamma, beta, y);
  } else if (beta != nullptr) {
    normalize_positions_with<false, true>(x, n, mu, rs, gamma, beta, y);
  } else {
    normalize_run(x, n, mu, rs, 0.0, y);
  }
}

// Sweep 1 of a per-position backward, one row's slice of n positions: adds dy_d and dy_d·x̂_d
// into the block's dβ, dγ accumulators and returns the slice's Σ γ_d·dy_d and Σ γ_d·dy_d·x̂_d.
// kGamma is a template argument so that each variant's loop has no branch in it and vectorizes.
template <bool kGamma, class T>
[[gnu::always_inline]] inline void position_slice_sums(const T* dy, const T* x, const T* gamma,
                                                       std::int64_t n, double mu, double rs,
                                                       double* acc_dy, double* acc_dyxhat,
                                                       double& sum_g, double& sum_gxhat) {
  double sg = 0.0, sgx = 0.0;
#pragma omp simd reduction(+ : sg, sgx)
  for (std::int64_t i = 0; i < n; ++i) {
    const double dyi = static_cast<double>(dy[i]);
    const double dyxhat = dyi * (static_cast<double>(x[i]) - mu) * rs;
    const double g = kGamma ? static_cast<double>(gamma[i]) : 1.0;
    acc_dy[i] += dyi;
    acc_dyxhat[i] += dyxhat;
    sg += g * dyi;
    sgx += g * dyxhat;
  }
  sum_g += sg;
  sum_gxhat += sgx;
}

// Sweep 2 of a per-position backward, one row's slice of n positions:
// dx_d = rstd·γ_d·dy_d + b·(x_d − μ) + c.
template <bool kGamma, class T>
[[gnu::always_inline]] inline void position_slice_dx(const T* dy, const T* x, const T* gamma,
                                                     std::int64_t n, double mu, double rs, double b,
                                                     double c, T* dx) {
#pragma omp simd
  for (std::int64_t i = 0; i < n; ++i) {
    const double g = kGamma ? static_cast<double>(gamma[i]) : 1.0;
    dx[i] = static_cast<T>(rs * g * static_cast<double>(dy[i]) +
                           b * (static_cast<double>(x[i]) - mu) + c);
  }
}

template <class T>
struct ForwardArgs {
  const NormPlan* plan;
  const T *x, *gamma, *beta;
  Renorm renorm;
  double eps;
  bool given_stats;
  double *mean, *var, *rstd;
  T* y;
  const StatsRule* rule;
};

// The statistics set s is normalized with, from its batch statistics (set_norm_kernels.h).
struct UsedStats {
  double mean, rstd, r, d;
};
[[gnu::always_inline]] inline UsedStats apply_stats_rule(const StatsRule& rule, std::int64_t s,
                                                         double mean, double var, double eps) {
  if (rule.kind == StatsRule::Kind::renorm) {
    const double sigma = std::sqrt(var + eps);
    const double r = std::clamp(sigma / rule.running_scale[s], 1.0 / rule.r_max, rule.r_max);
    const double d =
        std::clamp((mean - rule.running_mean[s]) / rule.running_scale[s], -rule.d_max, rule.d_max);
    rule.r[s] = r;
    rule.d[s] = d;
    return {mean, 1.0 / sigma, r, d};
  }
  const EstimatedStats e = moving_average_stats(rule, s, mean, var, eps);
  rule.used_mean[s] = e.mean;
  rule.used_rstd[s] = e.rstd;
  return {e.mean, e.rstd, 1.0, 0.0};
}

template <class T>
struct BackwardArgs {
  const NormPlan* plan;
  const T *dy, *x, *gamma;
  Renorm renorm;
  const double *mean, *rstd;
  bool constant_stats;
  T* dx;
  double *run_dy = nullptr, *run_dyxhat = nullptr;  // per_run: (sets, runs) partial Σdy, Σdy·x̂
  // per_position: the rows [first_row, first_row + rows) of the current group, their partial
  // (Σg, Σg·x̂) per (row, block), and their b and c of dx = rstd·γ·dy + b·(x − μ) + c
  std::int64_t first_row = 0, rows = 0;
  double *block_sums = nullptr, *coef_b = nullptr, *coef_c = nullptr;
  double *dgamma = nullptr, *dbeta = nullptr;  // per_position: (inner) outputs, or null
};

// One set: statistics (eq. D0), then y = γ_p·(x̂·r + d) + β_p (eq. 1 and 6 of the GN paper).
template <class T>
[[gnu::always_inline]] inline void forward_set(const ForwardArgs<T>& k, std::int64_t s) {
  const SetLayout& L = k.plan->sets;
  const AffineLayout& A = k.plan->affine;
  auto row = [&](std::int64_t a) { return (a * L.sets + s) * L.inner; };
  if (!k.given_stats) {
    double var = 0.0;
    if (k.plan->subtract_mean && std::is_same_v<T, float>) {
      // eq. D0 in one sweep for float32: with K the set's first value and d = x − K (exact in
      // double), μ = K + Σd/m and m·σ² = Σd² − (Σd)²/m. The difference cancels at most
      // m·(μ − K)² ≤ m·Σ(x − μ)² (K is one of the values), so σ² keeps a relative error of order
      // m·2⁻⁵³: 1e-10 for a million values, against the 1e-6 a float32 result needs.
      const double m = static_cast<double>(L.m());
      const double shift = m > 0.0 ? static_cast<double>(k.x[row(0)]) : 0.0;
      double sum = 0.0, sumsq = 0.0;
      for (std::int64_t a = 0; a < L.outer; ++a) {
        add_shifted_sums(k.x + row(a), L.inner, shift, sum, sumsq);
      }
      k.mean[s] = m > 0.0 ? shift + sum / m : 0.0;
      var = m > 0.0 ? std::max(0.0, (sumsq - sum * sum / m) / m) : 0.0;
    } else if (k.plan->subtract_mean) {
      Moments acc;
      for (std::int64_t a = 0; a < L.outer; ++a) {
        add_row_moments(k.x + row(a), L.inner, acc);
      }
      k.mean[s] = acc.mean;
      var = acc.n > 0.0 ? acc.m2 / acc.n : 0.0;
    } else {
      double sum = 0.0, sumsq = 0.0;
      for (std::int64_t a = 0; a < L.outer; ++a) {
        add_shifted_sums(k.x + row(a), L.inner, 0.0, sum, sumsq);
      }
      k.mean[s] = 0.0;
      var = L.m() > 0 ? sumsq / static_cast<double>(L.m()) : 0.0;
    }
    k.var[s] = var;
    k.rstd[s] = 1.0 / std::sqrt(var + k.eps);
  }
  if (k.y == nullptr) {  // statistics only
    return;
  }
  UsedStats used{k.mean[s], k.rstd[s], k.renorm.r != nullptr ? k.renorm.r[s] : 1.0,
                 k.renorm.d != nullptr ? k.renorm.d[s] : 0.0};
  if (k.rule != nullptr && !k.given_stats) {
    used = apply_stats_rule(*k.rule, s, k.mean[s], k.var[s], k.eps);
  }
  const double mu = used.mean, rs = used.rstd, r = used.r, d = used.d;
  if (A.kind == AffineLayout::Kind::per_position) {
    normalize_positions(k.x + row(0), L.inner, mu, rs, k.gamma, k.beta, k.y + row(0));
    return;
  }
  const std::int64_t runs = L.inner / A.run, first = (s % A.period) * A.stride;
  for (std::int64_t a = 0; a < L.outer; ++a) {
    for (std::int64_t j = 0; j < runs; ++j) {
      const double g = k.gamma != nullptr ? static_cast<double>(k.gamma[first + j]) : 1.0;
      const double b = k.beta != nullptr ? static_cast<double>(k.beta[first + j]) : 0.0;
      const std::int64_t at = row(a) + j * A.run;
      normalize_run(k.x + at, A.run, mu, rs * r * g, d * g + b, k.y + at);
    }
  }
}

// One set of a per_run backward. Sweep 1 reduces Σdy and Σdy·x̂ per run and, from them, Σg and
// Σg·x̂ of the set; sweep 2 writes dx = a·dy + b·(x − μ) + c (eq. D4 regrouped: a = rstd·γ·r,
// b = −rstd²·Σg·x̂/m, c = −rstd·Σg/m).
template <class T>
[[gnu::always_inline]] inline void backward_set(const BackwardArgs<T>& k, std::int64_t s) {
  const SetLayout& L = k.plan->sets;
  const AffineLayout& A = k.plan->affine;
  auto row = [&](std::int64_t a) { return (a * L.sets + s) * L.inner; };
  const double mu = k.mean[s], rs = k.rstd[s];
  const double r = k.renorm.r != nullptr ? k.renorm.r[s] : 1.0;
  const double m = static_cast<double>(L.m());
  double sum_g = 0.0, sum_gxhat = 0.0;
  const std::int64_t runs = L.inner / A.run, first = (s % A.period) * A.stride;
  double* pdy = k.run_dy + s * runs;
  double* pdyx = k.run_dyxhat + s * runs;
  std::fill(pdy, pdy + runs, 0.0);
  std::fill(pdyx, pdyx + runs, 0.0);
  // sweep 1: Σdy and Σdy·x̂ of every run (x̂ recomputed from x, μ, rstd)
  for (std::int64_t a = 0; a < L.outer; ++a) {
    for (std::int64_t j = 0; j < runs; ++j) {
      const std::int64_t at = row(a) + j * A.run;
      const T* dy = k.dy + at;
      const T* x = k.x + at;
      double sdy = 0.0, sdyx = 0.0;
      add_dy_sums(dy, x, A.run, mu, sdy, sdyx);
      pdy[j] += sdy;
      pdyx[j] += sdyx * rs;
    }
  }
  for (std::int64_t j = 0; j < runs; ++j) {
    const double g = k.gamma != nullptr ? static_cast<double>(k.gamma[first + j]) : 1.0;
    sum_g += g * r * pdy[j];
    sum_gxhat += g * r * pdyx[j];
  }
  // sweep 2: dx, while the set is still in cache
  const double b = k.constant_stats ? 0.0 : -rs * rs * sum_gxhat / m;
  const double c = k.constant_stats || !k.plan->subtract_mean ? 0.0 : -rs * sum_g / m;
  for (std::int64_t a = 0; a < L.outer; ++a) {
    for (std::int64_t j = 0; j < runs; ++j) {
      const double g = k.gamma != nullptr ? static_cast<double>(k.gamma[first + j]) : 1.0;
      const double scale = rs * g * r;
      const std::int64_t at = row(a) + j * A.run;
      scaled_dx_run(k.dy + at, k.x + at, A.run, mu, scale, b, c, k.dx + at);
    }
  }
}

// Per-position backward, sweep 1, one block of positions [d0, d0 + n) in every row of the group:
// dβ_d += Σ_s dy and dγ_d += Σ_s dy·x̂, summed in row order while the block's accumulators sit in
// L1, and each row's partial Σg, Σg·x̂ over the block.
template <class T>
[[gnu::always_inline]] inline void position_block_sums(const BackwardArgs<T>& k,
                                                       std::int64_t block) {
  const SetLayout& L = k.plan->sets;
  const std::int64_t d0 = block * kPositionBlock, n = std::min(kPositionBlock, L.inner - d0);
  const std::int64_t blocks = (L.inner + kPositionBlock - 1) / kPositionBlock;
  // dβ_d and dγ_d accumulate in place; without them, in a scratch block that is thrown away
  std::array<double, kPositionBlock> scratch_dy, scratch_dyxhat;
  double* acc_dy = k.dbeta != nullptr ? k.dbeta + d0 : scratch_dy.data();
  double* acc_dyxhat = k.dgamma != nullptr ? k.dgamma + d0 : scratch_dyxhat.data();
  if (k.dbeta == nullptr) {
    std::fill_n(acc_dy, n, 0.0);
  }
  if (k.dgamma == nullptr) {
    std::fill_n(acc_dyxhat, n, 0.0);
  }
  const T* gamma = k.gamma != nullptr ? k.gamma + d0 : nullptr;
  for (std::int64_t r = 0; r < k.rows; ++r) {
    const std::int64_t s = k.first_row + r, at = s * L.inner + d0;
    double* sums = k.block_sums + 2 * (r * blocks + block);
    sums[0] = sums[1] = 0.0;
    if (gamma != nullptr) {
      position_slice_sums<true>(k.dy + at, k.x + at, gamma, n, k.mean[s], k.rstd[s], acc_dy,
                                acc_dyxhat, sums[0], sums[1]);
    } else {
      position_slice_sums<false>(k.dy + at, k.x + at, gamma, n, k.mean[s], k.rstd[s], acc_dy,
                                 acc_dyxhat, sums[0], sums[1]);
    }
  }
}

// Per-position backward, sweep 2, one block of positions in every row of the group: dx, while
// the group is still in cache.
template <class T>
[[gnu::always_inline]] inline void position_block_dx(const BackwardArgs<T>& k, std::int64_t block) {
  const SetLayout& L = k.plan->sets;
  const std::int64_t d0 = block * kPositionBlock, n = std::min(kPositionBlock, L.inner - d0);
  const T* gamma = k.gamma != nullptr ? k.gamma + d0 : nullptr;
  for (std::int64_t r = 0; r < k.rows; ++r) {
    const std::int64_t s = k.first_row + r, at = s * L.inner + d0;
    if (gamma != nullptr) {
      position_slice_dx<true>(k.dy + at, k.x + at, gamma, n, k.mean[s], k.rstd[s], k.coef_b[s],
                              k.coef_c[s], k.dx + at);
    } else {
      position_slice_dx<false>(k.dy + at, k.x + at, gamma, n, k.mean[s], k.rstd[s], k.coef_b[s],
                               k.coef_c[s], k.dx + at);
    }
  }
}

// The backward's units of work: a per_run set; a block of positions in a group of per-position
// rows, sweep 1 (sums) or sweep 2 (dx).
enum class BackwardStep : std::uint8_t { per_run_set, position_sums, position_dx };

template <class T>
[[gnu::always_inline]] inline void backward_step(const BackwardArgs<T>& k, BackwardStep step,
                                                 std::int64_t i) {
  switch (step) {
    case BackwardStep::per_run_set:
      backward_set(k, i);
      return;
    case BackwardStep::position_sums:
      position_block_sums(k, i);
      return;
    case BackwardStep::position_dx:
      position_block_dx(k, i);
      return;
  }
}

// The multiversioned entry points: one per pass and dtype (clang 14 cannot clone templates).
NORMLAB_MULTIVERSION void forward_one_set(const ForwardArgs<float>& k, std::int64_t s) {
  forward_set(k, s);
}
NORMLAB_MULTIVERSION void forward_one_set(const ForwardArgs<double>& k, std::int64_t s) {
  forward_set(k, s);
}
NORMLAB_MULTIVERSION void backward_one_step(const BackwardArgs<float>& k, BackwardStep step,
                                            std::int64_t i) {
  backward_step(k, step, i);
}
NORMLAB_MULTIVERSION void backward_one_step(const BackwardArgs<double>& k, BackwardStep step,
                                            std::int64_t i) {
  backward_step(k, step, i);
}

bool worth_threads(const SetLayout& L) {
  return L.sets > 1 && L.sets * L.m() >= kParallelGrain;
}

// The per-position backward (LayerNorm, RMSNorm: outer is 1, a set is a row, γ_d per position),
// one group of rows after the other. Both sweeps thread over blocks of positions, with the same
// static split, so a thread's second sweep reads what its first left in its cache. Each dγ_d, dβ_d
// is summed over the rows in order and each row's Σg, Σg·x̂ over its blocks in order, so the bits
// do not depend on the thread count, and no thread keeps a partial sum of all C·H·W positions.
template <class T>
void position_backward(BackwardArgs<T>& k, bool threads) {
  const SetLayout& L = k.plan->sets;
  const std::int64_t blocks = (L.inner + kPositionBlock - 1) / kPositionBlock;
  const std::int64_t row_bytes = 2 * L.inner * static_cast<std::int64_t>(sizeof(T));
  const std::int64_t group =
      std::clamp<std::int64_t>(kPositionGroupBytes / std::max<std::int64_t>(row_bytes, 1), 1,
                               std::max<std::int64_t>(L.sets, 1));
  const double m = static_cast<double>(L.m());
  std::vector<double> block_sums(2 * static_cast<std::size_t>(group * blocks));
  std::vector<double> coef(2 * static_cast<std::size_t>(L.sets));
  k.block_sums = block_sums.data();
  k.coef_b = coef.data();
  k.coef_c = coef.data() + L.sets;
  if (k.dbeta != nullptr) {
    std::fill(k.dbeta, k.dbeta + L.inner, 0.0);
  }
  if (k.dgamma != nullptr) {
    std::fill(k.dgamma, k.dgamma + L.inner, 0.0);
  }
  const bool block_threads = threads && blocks > 1;
  for (k.first_row = 0; k.first_row < L.sets; k.first_row += group) {
    k.rows = std::min(group, L.sets - k.first_row);
#pragma omp parallel for schedule(static) if (block_threads)
    for (std::int64_t block = 0; block < blocks; ++block) {
      backward_one_step(k, BackwardStep::position_sums, block);
    }
    // b and c of each row (eq. D4 regrouped; RMSNorm, which does not subtract the mean, has c = 0;
    // eval mode, whose statistics are constants, has b = c = 0)
    for (std::int64_t r = 0; r < k.rows; ++r) {
      double sum_g = 0.0, sum_gxhat = 0.0;
      for (std::int64_t block = 0; block < blocks; ++block) {
        sum_g += block_sums[2 * (r * blocks + block)];
        sum_gxhat += block_sums[2 * (r * blocks + block) + 1];
      }
      const std::int64_t s = k.first_row + r;
      const double rs = k.rstd[s];
      k.coef_b[s] = k.constant_stats ? 0.0 : -rs * rs * sum_gxhat / m;
      k.coef_c[s] = k.constant_stats || !k.plan->subtract_mean ? 0.0 : -rs * sum_g / m;
    }
#pragma omp parallel for schedule(static) if (block_threads)
    for (std::int64_t block = 0; block < blocks; ++block) {
      backward_one_step(k, BackwardStep::position_dx, block);
    }
  }
}

}  // namespace

template <class T>
void set_norm_forward(const NormPlan& plan, const T* x, const T* gamma, const T* beta,
                      Renorm renorm, double eps, bool given_stats, double* mean, double* var,
                      double* rstd, T* y, const StatsRule* rule) {
  assert(plan.affine.kind == AffineLayout::Kind::per_run || plan.sets.outer == 1);
  const ForwardArgs<T> k{&plan, x, gamma, beta, renorm, eps, given_stats, mean, var, rstd, y, rule};
#pragma omp parallel for schedule(static) if (worth_threads(plan.sets))
  for (std::int64_t s = 0; s < plan.sets.sets; ++s) {
    forward_one_set(k, s);
  }
}

template <class T>
void set_norm_statistics(const NormPlan& plan, const T* x, double eps, double* mean, double* var,
                         double* rstd) {
  set_norm_forward(plan, x, static_cast<const T*>(nullptr), static_cast<const T*>(nullptr),
                   Renorm{}, eps, /*given_stats=*/false, mean, var, rstd, static_cast<T*>(nullptr));
}

template <class T>
void set_norm_backward(const NormPlan& plan, const T* dy, const T* x, const T* gamma, Renorm renorm,
                       const double* mean, const double* rstd, bool constant_stats, T* dx,
                       double* dgamma, double* dbeta) {
  const SetLayout& L = plan.sets;
  const AffineLayout& A = plan.affine;
  const bool threads = worth_threads(L);
  BackwardArgs<T> k{.plan = &plan,
                    .dy = dy,
                    .x = x,
                    .gamma = gamma,
                    .renorm = renorm,
                    .mean = mean,
                    .rstd = rstd,
                    .constant_stats = constant_stats,
                    .dx = dx,
                    .dgamma = dgamma,
                    .dbeta = dbeta};
  if (A.kind == AffineLayout::Kind::per_position) {
    assert(renorm.r == nullptr && renorm.d == nullptr);
    position_backward(k, threads);
    return;
  }
  const std::int64_t runs = A.run > 0 ? L.inner / A.run : 0;
  std::vector<double> run_sums(2 * static_cast<std::size_t>(L.sets * runs), 0.0);
  k.run_dy = run_sums.data();
  k.run_dyxhat = run_sums.data() + L.sets * runs;
#pragma omp parallel for schedule(static) if (threads)
  for (std::int64_t s = 0; s < L.sets; ++s) {
    backward_one_step(k, BackwardStep::per_run_set, s);
  }
  // dβ_p = Σ dy and dγ_p = Σ dy·(x̂·r + d) over every run that uses p, in set order.
  if (dbeta != nullptr) {
    std::fill(dbeta, dbeta + A.numel, 0.0);
  }
  if (dgamma != nullptr) {
    std::fill(dgamma, dgamma + A.numel, 0.0);
  }
  for (std::int64_t s = 0; s < L.sets; ++s) {
    const double r = renorm.r != nullptr ? renorm.r[s] : 1.0;
    const double d = renorm.d != nullptr ? renorm.d[s] : 0.0;
    const std::int64_t first = (s % A.period) * A.stride;
    for (std::int64_t j = 0; j < runs; ++j) {
      const double sdy = k.run_dy[s * runs + j], sdyx = k.run_dyxhat[s * runs + j];
      if (dbeta != nullptr) {
        dbeta[first + j] += sdy;
      }
      if (dgamma != nullptr) {
        dgamma[first + j] += sdyx * r + sdy * d;
      }
    }
  }
}

template void set_norm_forward<float>(const NormPlan&, const float*, const float*, const float*,
                                      Renorm, double, bool, double*, double*, double*, float*,
                                      const StatsRule*);
template void set_norm_forward<double>(const NormPlan&, const double*, const double*, const double*,
                                       Renorm, double, bool, double*, double*, double*, double*,
                                       const StatsRule*);
template void set_norm_statistics<float>(const NormPlan&, const float*, double, double*, double*,
                                         double*);
template void set_norm_statistics<double>(const NormPlan&, const double*, double, double*, double*,
                                          double*);
template void set_norm_backward<float>(const NormPlan&, const float*, const float*, const float*,
                                       Renorm, const double*, const double*, bool, float*, double*,
                                       double*);
template void set_norm_backward<double>(const NormPlan&, const double*, const double*,
                                        const double*, Renorm, const double*, const double*, bool,
                                        double*, double*, double*);

}  // namespace normlab
