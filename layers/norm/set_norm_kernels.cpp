// layers/norm/set_norm_kernels.cpp: the family's fused forward and backward (set_norm_kernels.h).
// Structure: parallel loops (set_norm_forward / set_norm_backward) call one kernel per unit of
// work (forward_one_step, backward_one_step: a set, a row, a block of positions), compiled for
// AVX-512, AVX2 and the baseline (core/multiversion.h). The helpers below are always_inline so
// that each clone compiles its own copy of them for its instruction set. A set is swept whole by
// one thread, except BatchNorm's layout on large tensors, which is swept by rows in memory order
// (sweeps_by_rows). Each unit only touches its own set or row and its own slice of the partial
// sums; the partials of a set's rows and LN's and RMSNorm's per-position dγ, dβ are added in
// order, so any thread count gives the same bits.
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

// Partial statistics of eq. D0 over some rows of a set: float32 with the mean, Σ(x − K) and
// Σ(x − K)² with K the set's first value (sum, sumsq); float64 with the mean, count, mean and M2
// (moments); without the mean (RMSNorm), Σx² (sumsq).
struct PartialStats {
  Moments moments;
  double sum = 0.0, sumsq = 0.0;

  void merge(const PartialStats& b) {
    if (b.moments.n > 0.0) {
      moments.merge(b.moments.n, b.moments.mean, b.moments.m2);
    }
    sum += b.sum;
    sumsq += b.sumsq;
  }
};

// The statistics set s is normalized with, from its batch statistics (set_norm_kernels.h).
struct UsedStats {
  double mean, rstd, r, d;
};

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
  // by rows (set_norm_forward): each row's partial statistics, (outer, sets), and the statistics
  // each set is normalized with, (sets)
  PartialStats* row_stats = nullptr;
  UsedStats* used = nullptr;
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
  // by rows (set_norm_backward): each row's partial Σdy, Σdy·x̂ per run, (outer, sets, runs)
  double *row_dy = nullptr, *row_dyxhat = nullptr;
  // per_position: the rows [first_row, first_row + rows) of the current group, their partial
  // (Σg, Σg·x̂) per (row, block); per_position and by rows: each row's or set's b and c of
  // dx = rstd·γ·dy + b·(x − μ) + c
  std::int64_t first_row = 0, rows = 0;
  double *block_sums = nullptr, *coef_b = nullptr, *coef_c = nullptr;
  double *dgamma = nullptr, *dbeta = nullptr;  // per_position: (inner) outputs, or null
};

// Offset of row a of set s: its values are x[(a·sets + s)·inner + i], i < inner.
[[gnu::always_inline]] inline std::int64_t row_offset(const SetLayout& L, std::int64_t a,
                                                      std::int64_t s) {
  return (a * L.sets + s) * L.inner;
}

// K of the float32 statistics: the first value of set s.
template <class T>
[[gnu::always_inline]] inline double stats_shift(const ForwardArgs<T>& k, std::int64_t s) {
  const bool shifted = k.plan->subtract_mean && std::is_same_v<T, float> && k.plan->sets.m() > 0;
  return shifted ? static_cast<double>(k.x[row_offset(k.plan->sets, 0, s)]) : 0.0;
}

// Adds the `inner` values of one row to the partial statistics p (PartialStats).
template <class T>
[[gnu::always_inline]] inline void add_row_stats(const ForwardArgs<T>& k, const T* x, double shift,
                                                 PartialStats& p) {
  const std::int64_t n = k.plan->sets.inner;
  if (k.plan->subtract_mean && std::is_same_v<T, float>) {
    add_shifted_sums(x, n, shift, p.sum, p.sumsq);
  } else if (k.plan->subtract_mean) {
    add_row_moments(x, n, p.moments);
  } else {
    add_shifted_sums(x, n, 0.0, p.sum, p.sumsq);
  }
}

// μ_s, σ²_s and rstd_s of set s from the partial statistics of all its rows (eq. D0). The float32
// one-sweep form: with d = x − K (exact in double), μ = K + Σd/m and m·σ² = Σd² − (Σd)²/m. The
// difference cancels at most m·(μ − K)² ≤ m·Σ(x − μ)² (K is one of the values), so σ² keeps a
// relative error of order m·2⁻⁵³: 1e-10 for a million values, against the 1e-6 a float32 result
// needs.
template <class T>
[[gnu::always_inline]] inline void store_set_stats(const ForwardArgs<T>& k, std::int64_t s,
                                                   double shift, const PartialStats& p) {
  const double m = static_cast<double>(k.plan->sets.m());
  double mean = 0.0, var = 0.0;
  if (k.plan->subtract_mean && std::is_same_v<T, float>) {
    mean = m > 0.0 ? shift + p.sum / m : 0.0;
    var = m > 0.0 ? std::max(0.0, (p.sumsq - p.sum * p.sum / m) / m) : 0.0;
  } else if (k.plan->subtract_mean) {
    mean = p.moments.mean;
    var = p.moments.n > 0.0 ? p.moments.m2 / p.moments.n : 0.0;
  } else {
    var = m > 0.0 ? p.sumsq / m : 0.0;
  }
  k.mean[s] = mean;
  k.var[s] = var;
  k.rstd[s] = 1.0 / std::sqrt(var + k.eps);
}

// The statistics set s is normalized with: its own, or what the StatsRule makes of them.
template <class T>
[[gnu::always_inline]] inline UsedStats used_stats(const ForwardArgs<T>& k, std::int64_t s) {
  if (k.rule != nullptr && !k.given_stats) {
    return apply_stats_rule(*k.rule, s, k.mean[s], k.var[s], k.eps);
  }
  return {k.mean[s], k.rstd[s], k.renorm.r != nullptr ? k.renorm.r[s] : 1.0,
          k.renorm.d != nullptr ? k.renorm.d[s] : 0.0};
}

// y = γ_p·(x̂·r + d) + β_p over row a of a per_run set s (eq. 1 and 6 of the GN paper).
template <class T>
[[gnu::always_inline]] inline void normalize_set_row(const ForwardArgs<T>& k, std::int64_t s,
                                                     std::int64_t a, const UsedStats& u) {
  const AffineLayout& A = k.plan->affine;
  const std::int64_t runs = k.plan->sets.inner / A.run, first = (s % A.period) * A.stride;
  const std::int64_t at0 = row_offset(k.plan->sets, a, s);
  for (std::int64_t j = 0; j < runs; ++j) {
    const double g = k.gamma != nullptr ? static_cast<double>(k.gamma[first + j]) : 1.0;
    const double b = k.beta != nullptr ? static_cast<double>(k.beta[first + j]) : 0.0;
    const std::int64_t at = at0 + j * A.run;
    normalize_run(k.x + at, A.run, u.mean, u.rstd * u.r * g, u.d * g + b, k.y + at);
  }
}

// One set: statistics (eq. D0), then y, while the set is in cache.
template <class T>
[[gnu::always_inline]] inline void forward_set(const ForwardArgs<T>& k, std::int64_t s) {
  const SetLayout& L = k.plan->sets;
  if (!k.given_stats) {
    const double shift = stats_shift(k, s);
    PartialStats p;
    for (std::int64_t a = 0; a < L.outer; ++a) {
      add_row_stats(k, k.x + row_offset(L, a, s), shift, p);
    }
    store_set_stats(k, s, shift, p);
  }
  if (k.y == nullptr) {  // statistics only
    return;
  }
  const UsedStats u = used_stats(k, s);
  if (k.plan->affine.kind == AffineLayout::Kind::per_position) {
    normalize_positions(k.x + row_offset(L, 0, s), L.inner, u.mean, u.rstd, k.gamma, k.beta,
                        k.y + row_offset(L, 0, s));
    return;
  }
  for (std::int64_t a = 0; a < L.outer; ++a) {
    normalize_set_row(k, s, a, u);
  }
}

// The forward by rows (set_norm_forward), sweep 1 over row r = a·sets + s: its partial statistics.
template <class T>
[[gnu::always_inline]] inline void row_stats_step(const ForwardArgs<T>& k, std::int64_t r) {
  const std::int64_t s = r % k.plan->sets.sets;
  PartialStats p;
  add_row_stats(k, k.x + r * k.plan->sets.inner, stats_shift(k, s), p);
  k.row_stats[r] = p;
}

// The forward by rows, between the sweeps, set s: its statistics from its rows' partial ones, added
// in order a = 0, 1, … (so the bits do not depend on which thread took which row), and the
// statistics it is normalized with.
template <class T>
[[gnu::always_inline]] inline void set_stats_from_rows(const ForwardArgs<T>& k, std::int64_t s) {
  const SetLayout& L = k.plan->sets;
  if (!k.given_stats) {
    PartialStats p;
    for (std::int64_t a = 0; a < L.outer; ++a) {
      p.merge(k.row_stats[a * L.sets + s]);
    }
    store_set_stats(k, s, stats_shift(k, s), p);
  }
  if (k.y != nullptr) {
    k.used[s] = used_stats(k, s);
  }
}

// The forward's units of work: a whole set; by rows, sweep 1 (a row's statistics), a set's
// statistics from its rows, and sweep 2 (a row's y).
enum class ForwardStep : std::uint8_t { set, row_stats, set_from_rows, row_y };

template <class T>
[[gnu::always_inline]] inline void forward_step(const ForwardArgs<T>& k, ForwardStep step,
                                                std::int64_t i) {
  switch (step) {
    case ForwardStep::set:
      forward_set(k, i);
      return;
    case ForwardStep::row_stats:
      row_stats_step(k, i);
      return;
    case ForwardStep::set_from_rows:
      set_stats_from_rows(k, i);
      return;
    case ForwardStep::row_y: {
      const std::int64_t s = i % k.plan->sets.sets;
      normalize_set_row(k, s, i / k.plan->sets.sets, k.used[s]);
      return;
    }
  }
}

// Σdy and Σdy·x̂ of every run of row a of per_run set s, x̂ recomputed from x, μ, rstd; stored at
// sum_dy[j], sum_dyxhat[j] (add: added to them).
template <bool kAdd, class T>
[[gnu::always_inline]] inline void row_dy_sums(const BackwardArgs<T>& k, std::int64_t s,
                                               std::int64_t a, double* sum_dy, double* sum_dyxhat) {
  const std::int64_t run = k.plan->affine.run, runs = k.plan->sets.inner / run;
  const std::int64_t at0 = row_offset(k.plan->sets, a, s);
  for (std::int64_t j = 0; j < runs; ++j) {
    const std::int64_t at = at0 + j * run;
    double sdy = 0.0, sdyx = 0.0;
    add_dy_sums(k.dy + at, k.x + at, run, k.mean[s], sdy, sdyx);
    sum_dy[j] = kAdd ? sum_dy[j] + sdy : sdy;
    sum_dyxhat[j] = kAdd ? sum_dyxhat[j] + sdyx * k.rstd[s] : sdyx * k.rstd[s];
  }
}

// b and c of set s (eq. D4 regrouped: b = −rstd²·Σg·x̂/m, c = −rstd·Σg/m, with Σg = Σ γ·r·dy)
// from the Σdy, Σdy·x̂ of its runs in k.run_dy, k.run_dyxhat; stored at k.coef_b[s], k.coef_c[s].
template <class T>
[[gnu::always_inline]] inline void store_set_coefficients(const BackwardArgs<T>& k,
                                                          std::int64_t s) {
  const AffineLayout& A = k.plan->affine;
  const std::int64_t runs = k.plan->sets.inner / A.run, first = (s % A.period) * A.stride;
  const double rs = k.rstd[s], r = k.renorm.r != nullptr ? k.renorm.r[s] : 1.0;
  const double m = static_cast<double>(k.plan->sets.m());
  double sum_g = 0.0, sum_gxhat = 0.0;
  for (std::int64_t j = 0; j < runs; ++j) {
    const double g = k.gamma != nullptr ? static_cast<double>(k.gamma[first + j]) : 1.0;
    sum_g += g * r * k.run_dy[s * runs + j];
    sum_gxhat += g * r * k.run_dyxhat[s * runs + j];
  }
  k.coef_b[s] = k.constant_stats ? 0.0 : -rs * rs * sum_gxhat / m;
  k.coef_c[s] = k.constant_stats || !k.plan->subtract_mean ? 0.0 : -rs * sum_g / m;
}

// dx = a·dy + b·(x − μ) + c over row a of per_run set s (a = rstd·γ·r).
template <class T>
[[gnu::always_inline]] inline void set_row_dx(const BackwardArgs<T>& k, std::int64_t s,
                                              std::int64_t a) {
  const AffineLayout& A = k.plan->affine;
  const std::int64_t runs = k.plan->sets.inner / A.run, first = (s % A.period) * A.stride;
  const std::int64_t at0 = row_offset(k.plan->sets, a, s);
  const double rs = k.rstd[s], r = k.renorm.r != nullptr ? k.renorm.r[s] : 1.0;
  for (std::int64_t j = 0; j < runs; ++j) {
    const double g = k.gamma != nullptr ? static_cast<double>(k.gamma[first + j]) : 1.0;
    const std::int64_t at = at0 + j * A.run;
    scaled_dx_run(k.dy + at, k.x + at, A.run, k.mean[s], rs * g * r, k.coef_b[s], k.coef_c[s],
                  k.dx + at);
  }
}

// One set of a per_run backward. Sweep 1 reduces Σdy and Σdy·x̂ per run and, from them, the b
// and c of dx; sweep 2 writes dx, while the set is still in cache.
template <class T>
[[gnu::always_inline]] inline void backward_set(const BackwardArgs<T>& k, std::int64_t s) {
  const SetLayout& L = k.plan->sets;
  const std::int64_t runs = L.inner / k.plan->affine.run;
  std::fill_n(k.run_dy + s * runs, runs, 0.0);
  std::fill_n(k.run_dyxhat + s * runs, runs, 0.0);
  for (std::int64_t a = 0; a < L.outer; ++a) {
    row_dy_sums<true>(k, s, a, k.run_dy + s * runs, k.run_dyxhat + s * runs);
  }
  store_set_coefficients(k, s);
  for (std::int64_t a = 0; a < L.outer; ++a) {
    set_row_dx(k, s, a);
  }
}

// The backward by rows, between the sweeps, set s: the Σdy, Σdy·x̂ of its runs from its rows'
// partial ones, added in order a = 0, 1, …, and its b and c.
template <class T>
[[gnu::always_inline]] inline void set_coefficients_from_rows(const BackwardArgs<T>& k,
                                                              std::int64_t s) {
  const SetLayout& L = k.plan->sets;
  const std::int64_t runs = L.inner / k.plan->affine.run;
  for (std::int64_t j = 0; j < runs; ++j) {
    double sdy = 0.0, sdyx = 0.0;
    for (std::int64_t a = 0; a < L.outer; ++a) {
      sdy += k.row_dy[(a * L.sets + s) * runs + j];
      sdyx += k.row_dyxhat[(a * L.sets + s) * runs + j];
    }
    k.run_dy[s * runs + j] = sdy;
    k.run_dyxhat[s * runs + j] = sdyx;
  }
  store_set_coefficients(k, s);
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

// The backward's units of work: a per_run set; by rows, sweep 1 (a row's sums), a set's b and c
// from its rows, sweep 2 (a row's dx); a block of positions in a group of per-position rows,
// sweep 1 (sums) or sweep 2 (dx).
enum class BackwardStep : std::uint8_t {
  per_run_set,
  row_sums,
  set_from_rows,
  row_dx,
  position_sums,
  position_dx
};

template <class T>
[[gnu::always_inline]] inline void backward_step(const BackwardArgs<T>& k, BackwardStep step,
                                                 std::int64_t i) {
  const std::int64_t sets = k.plan->sets.sets;
  switch (step) {
    case BackwardStep::per_run_set:
      backward_set(k, i);
      return;
    case BackwardStep::row_sums: {
      const std::int64_t runs = k.plan->sets.inner / k.plan->affine.run;
      row_dy_sums<false>(k, i % sets, i / sets, k.row_dy + i * runs, k.row_dyxhat + i * runs);
      return;
    }
    case BackwardStep::set_from_rows:
      set_coefficients_from_rows(k, i);
      return;
    case BackwardStep::row_dx:
      set_row_dx(k, i % sets, i / sets);
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
NORMLAB_MULTIVERSION void forward_one_step(const ForwardArgs<float>& k, ForwardStep step,
                                           std::int64_t i) {
  forward_step(k, step, i);
}
NORMLAB_MULTIVERSION void forward_one_step(const ForwardArgs<double>& k, ForwardStep step,
                                           std::int64_t i) {
  forward_step(k, step, i);
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

// Whether the sweeps go by rows in memory order rather than set by set: for per_run sets with
// several outer rows (BatchNorm's channel: H·W values in each of N samples, C·H·W apart) in a
// tensor of at least kRowSweepBytes. Walking such a set starts a new stretch of memory every
// row, where the hardware prefetchers have no stream to follow; in memory order they do, at the
// price of a second read of x (and dy) that the set-by-set sweep finds in L2. Below 2 MiB the
// tensor stays in the cores' L2 and the set-by-set sweep, one parallel loop instead of three, is
// the faster (docs/normalization/performance.md). Rows shorter than a vector of sixteen values
// would cost more in partial sums than they hold (BatchNorm1d's rows are single values).
constexpr std::int64_t kRowSweepBytes = std::int64_t{2} << 20;
constexpr std::int64_t kRowSweepMinRow = 16;

bool sweeps_by_rows(const NormPlan& plan, std::int64_t value_bytes) {
  const SetLayout& L = plan.sets;
  return plan.affine.kind == AffineLayout::Kind::per_run && L.outer > 1 &&
         L.inner >= kRowSweepMinRow && L.outer * L.sets * L.inner * value_bytes >= kRowSweepBytes;
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
  ForwardArgs<T> k{&plan, x, gamma, beta, renorm, eps, given_stats, mean, var, rstd, y, rule};
  const SetLayout& L = plan.sets;
  const bool threads = worth_threads(L);
  if (!sweeps_by_rows(plan, sizeof(T))) {
#pragma omp parallel for schedule(static) if (threads)
    for (std::int64_t s = 0; s < L.sets; ++s) {
      forward_one_step(k, ForwardStep::set, s);
    }
    return;
  }
  const std::int64_t rows = L.outer * L.sets;
  std::vector<PartialStats> row_stats(given_stats ? 0 : static_cast<std::size_t>(rows));
  std::vector<UsedStats> used(static_cast<std::size_t>(L.sets));
  k.row_stats = row_stats.data();
  k.used = used.data();
  if (!given_stats) {
#pragma omp parallel for schedule(static) if (threads)
    for (std::int64_t r = 0; r < rows; ++r) {
      forward_one_step(k, ForwardStep::row_stats, r);
    }
  }
  for (std::int64_t s = 0; s < L.sets; ++s) {
    forward_one_step(k, ForwardStep::set_from_rows, s);
  }
  if (y != nullptr) {
#pragma omp parallel for schedule(static) if (threads)
    for (std::int64_t r = 0; r < rows; ++r) {
      forward_one_step(k, ForwardStep::row_y, r);
    }
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
  std::vector<double> coef(2 * static_cast<std::size_t>(L.sets));
  k.run_dy = run_sums.data();
  k.run_dyxhat = run_sums.data() + L.sets * runs;
  k.coef_b = coef.data();
  k.coef_c = coef.data() + L.sets;
  if (!sweeps_by_rows(plan, sizeof(T))) {
#pragma omp parallel for schedule(static) if (threads)
    for (std::int64_t s = 0; s < L.sets; ++s) {
      backward_one_step(k, BackwardStep::per_run_set, s);
    }
  } else {
    const std::int64_t rows = L.outer * L.sets;
    std::vector<double> row_sums(2 * static_cast<std::size_t>(rows * runs));
    k.row_dy = row_sums.data();
    k.row_dyxhat = row_sums.data() + rows * runs;
#pragma omp parallel for schedule(static) if (threads)
    for (std::int64_t r = 0; r < rows; ++r) {
      backward_one_step(k, BackwardStep::row_sums, r);
    }
    for (std::int64_t s = 0; s < L.sets; ++s) {
      backward_one_step(k, BackwardStep::set_from_rows, s);
    }
#pragma omp parallel for schedule(static) if (threads)
    for (std::int64_t r = 0; r < rows; ++r) {
      backward_one_step(k, BackwardStep::row_dx, r);
    }
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
