// layers/norm/set_norm_loops.h: the inner loops that the family's kernels share, written once:
// the vectorized double sums of a run (the statistics' Σ(x − K), Σ(x − K)², the backward's Σdy,
// Σdy·(x − μ)) and the dx of eq. D4 regrouped. set_norm_kernels.cpp (BN, LN, IN, GN, channel
// norm, batch renormalization, RMSNorm) and batch_channel_kernels.cpp (the fused Batch-Channel
// Normalization) call them from their multiversioned per-set kernels (core/multiversion.h); they
// are always_inline so that each clone compiles its own copy for its instruction set.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

namespace normlab::detail {

// v as a float, and ±inf where v lies beyond float's range (a plain conversion would be undefined
// behaviour there): a float32 rstd of a constant set with a tiny ε, a float32 σ̂² of huge values.
[[gnu::always_inline]] inline float to_float_or_inf(double v) {
  constexpr double kMax = std::numeric_limits<float>::max();
  constexpr float kInf = std::numeric_limits<float>::infinity();
  return v > kMax ? kInf : v < -kMax ? -kInf : static_cast<float>(v);
}

// Eight doubles as one GCC/clang vector: one AVX-512 register, two AVX2 or four SSE2 ones, as the
// clone at hand has them (core/multiversion.h); sixteen values are two of them. Sixteen floats
// are one AVX-512 load, converted to doubles one half at a time through a vector of sixteen (with
// eight floats, GCC splits the conversion into quarters and puts them back together). A shift is
// subtracted from each half, not from the sixteen, whose broadcast GCC builds through memory.
using Double8 = double __attribute__((vector_size(8 * sizeof(double))));
struct Double8x2 {
  Double8 lo, hi;
};

// d = x[0..16) − shift, in double.
template <class T>
[[gnu::always_inline]] inline void load_shifted(const T* x, double shift, Double8x2& d) {
  if constexpr (std::is_same_v<T, float>) {
    using Float16 = float __attribute__((vector_size(16 * sizeof(float))));
    using Double16 = double __attribute__((vector_size(16 * sizeof(double))));
    Float16 v;
    std::memcpy(&v, x, sizeof v);
    const Double16 w = __builtin_convertvector(v, Double16);
    std::memcpy(&d, &w, sizeof d);
  } else {
    std::memcpy(&d, x, sizeof d);
  }
  d.lo -= shift;
  d.hi -= shift;
}

// The sum of the eight lanes of v, as a tree of halves (three vector adds and a scalar one in
// registers, rather than a chain of seven scalar adds through memory).
[[gnu::always_inline]] inline double horizontal_sum(const Double8& v) {
  using Double4 = double __attribute__((vector_size(4 * sizeof(double))));
  using Double2 = double __attribute__((vector_size(2 * sizeof(double))));
  Double4 h4[2];
  std::memcpy(h4, &v, sizeof h4);
  const Double4 s4 = h4[0] + h4[1];
  Double2 h2[2];
  std::memcpy(h2, &s4, sizeof h2);
  const Double2 s2 = h2[0] + h2[1];
  return s2[0] + s2[1];
}

// Adds Σ a_i and Σ b_i over i ∈ [0, n) to sum_a and sum_b, in double, where terms(i, a, b) sets
// the terms of the sixteen values from i as vectors and term(i, a, b) those of value i alone. Four
// independent vector sums of eight doubles of each (one AVX-512 register apiece): the adds of one
// do not wait on the others', so the loop runs at the rate of its loads and conversions rather
// than at one add's latency per eight values (an `omp simd reduction` keeps one or two sums).
template <class Terms, class Term>
[[gnu::always_inline]] inline void add_pair_sums(std::int64_t n, Terms terms, Term term,
                                                 double& sum_a, double& sum_b) {
  constexpr std::int64_t kLanes = 16;
  Double8x2 a0{}, a1{}, b0{}, b1{}, a, b;
  auto add = [](Double8x2 & acc, const Double8x2& v) __attribute__((always_inline)) {
    acc.lo += v.lo;
    acc.hi += v.hi;
  };
  std::int64_t i = 0;
  for (; i + 2 * kLanes <= n; i += 2 * kLanes) {
    terms(i, a, b);
    add(a0, a);
    add(b0, b);
    terms(i + kLanes, a, b);
    add(a1, a);
    add(b1, b);
  }
  if (i + kLanes <= n) {
    terms(i, a, b);
    add(a0, a);
    add(b0, b);
    i += kLanes;
  }
  sum_a += horizontal_sum((a0.lo + a0.hi) + (a1.lo + a1.hi));
  sum_b += horizontal_sum((b0.lo + b0.hi) + (b1.lo + b1.hi));
  for (; i < n; ++i) {
    double ai = 0.0, bi = 0.0;
    term(i, ai, bi);
    sum_a += ai;
    sum_b += bi;
  }
}

// Adds Σ(x − shift) and Σ(x − shift)² over n contiguous values to sum and sumsq, in double.
template <class T>
[[gnu::always_inline]] inline void add_shifted_sums(const T* x, std::int64_t n, double shift,
                                                    double& sum, double& sumsq) {
  add_pair_sums(
      n,
      [&](std::int64_t i, Double8x2 & d, Double8x2 & dd) __attribute__((always_inline)) {
        load_shifted(x + i, shift, d);
        dd.lo = d.lo * d.lo;
        dd.hi = d.hi * d.hi;
      },
      [&](std::int64_t i, double& d, double& dd) __attribute__((always_inline)) {
        d = static_cast<double>(x[i]) - shift;
        dd = d * d;
      },
      sum, sumsq);
}

// Adds Σdy and Σdy·(x − μ) over n contiguous values to sum_dy and sum_dyx, in double.
template <class T>
[[gnu::always_inline]] inline void add_dy_sums(const T* dy, const T* x, std::int64_t n, double mu,
                                               double& sum_dy, double& sum_dyx) {
  add_pair_sums(
      n,
      [&](std::int64_t i, Double8x2 & g, Double8x2 & gx) __attribute__((always_inline)) {
        Double8x2 d;
        load_shifted(dy + i, 0.0, g);
        load_shifted(x + i, mu, d);
        gx.lo = g.lo * d.lo;
        gx.hi = g.hi * d.hi;
      },
      [&](std::int64_t i, double& g, double& gx) __attribute__((always_inline)) {
        g = static_cast<double>(dy[i]);
        gx = g * (static_cast<double>(x[i]) - mu);
      },
      sum_dy, sum_dyx);
}

// dx = a·dy + b·(x − μ) + c over n contiguous values (eq. D4 regrouped), in double.
template <class T>
[[gnu::always_inline]] inline void scaled_dx_run(const T* dy, const T* x, std::int64_t n, double mu,
                                                 double a, double b, double c, T* dx) {
#pragma omp simd
  for (std::int64_t i = 0; i < n; ++i) {
    dx[i] =
        static_cast<T>(a * static_cast<double>(dy[i]) + b * (static_cast<double>(x[i]) - mu) + c);
  }
}

}  // namespace normlab::detail
