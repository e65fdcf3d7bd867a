// layers/norm/batch_channel_kernels.cpp: the fused training pass of Batch-Channel Normalization
// (batch_channel_kernels.h). Equations BCN10–BCN15: docs/normalization/batch_channel_norm.md.
// The forward's two sweeps are the family's kernels (set_norm_kernels.h) over the sets (n, c);
// the backward's per-group kernel is compiled for AVX-512, AVX2 and the baseline
// (core/multiversion.h) around the shared loops of set_norm_loops.h.
#include "layers/norm/batch_channel_kernels.h"

#include <cmath>

#include "core/multiversion.h"
#include "core/threads.h"
#include "layers/norm/set_norm_loops.h"

namespace normlab {

namespace {

// The sets (n, c), one row of L values each, without an affine: the per-(sample, channel) sets of
// InstanceNorm, over which both sweeps of the forward run.
NormPlan sample_channel_plan(const BatchChannelDims& d) {
  return {.sets = {.outer = 1, .sets = d.N * d.C, .inner = d.L},
          .affine = {.kind = AffineLayout::Kind::per_run,
                     .period = d.C,
                     .stride = 1,
                     .run = std::max<std::int64_t>(d.L, 1),
                     .numel = d.C}};
}

template <class T>
double value_or(const T* p, std::int64_t i, double fallback) {
  return p != nullptr ? static_cast<double>(p[i]) : fallback;
}

// eq. BCN11: μ_c = (1/N)·Σ_n μ_nc and σ²_c = (1/N)·Σ_n (σ²_nc + (μ_nc − μ_c)²), every (n, c)
// holding L values; then the estimates (BCN1) and a_c = γ1_c·rstd̂_c.
template <class T>
void estimate_channels(const BatchChannelDims& d, const StatsRule& rule, const T* bn_gamma,
                       double eps, BatchChannelStats& s) {
  for (std::int64_t c = 0; c < d.C; ++c) {
    double mean = 0.0;
    for (std::int64_t n = 0; n < d.N; ++n) {
      mean += s.mean_nc[n * d.C + c];
    }
    mean /= static_cast<double>(d.N);
    double var = 0.0;
    for (std::int64_t n = 0; n < d.N; ++n) {
      const double delta = s.mean_nc[n * d.C + c] - mean;
      var += s.var_nc[n * d.C + c] + delta * delta;
    }
    var /= static_cast<double>(d.N);
    s.batch_mean[c] = mean;
    s.batch_var[c] = var;
    const EstimatedStats est = moving_average_stats(rule, c, mean, var, eps);
    s.est_mean[c] = est.mean;
    s.est_rstd[c] = est.rstd;
    s.a[c] = value_or(bn_gamma, c, 1.0) * est.rstd;
  }
}

// eq. BCN12: the channel norm's statistics of y1 = a_c·(x − μ̂_c) + β1_c over group g of sample n,
// from those of x: ν_nc = a_c·(μ_nc − μ̂_c) + β1_c, μ_ng = (1/D)·Σ_c ν_nc and
// σ²_ng = (1/D)·Σ_c (a_c²·σ²_nc + (ν_nc − μ_ng)²); e_nc = ν_nc − μ_ng. Then the per-(n, c) scale
// and shift of eq. BCN13: y = A_nc·(x − μ_nc) + B_nc.
template <class T>
void normalize_groups(const BatchChannelDims& d, const T* bn_beta, const T* cn_gamma,
                      const T* cn_beta, double eps, BatchChannelStats& s, std::vector<double>& A,
                      std::vector<double>& B) {
  const std::int64_t D = d.C / d.G;
  for (std::int64_t n = 0; n < d.N; ++n) {
    for (std::int64_t g = 0; g < d.G; ++g) {
      const std::int64_t first = n * d.C + g * D;
      double mean = 0.0;
      for (std::int64_t j = 0; j < D; ++j) {
        const std::int64_t c = g * D + j;
        s.e[first + j] =
            s.a[c] * (s.mean_nc[first + j] - s.est_mean[c]) + value_or(bn_beta, c, 0.0);
        mean += s.e[first + j];
      }
      mean /= static_cast<double>(D);
      double var = 0.0;
      for (std::int64_t j = 0; j < D; ++j) {
        const std::int64_t c = g * D + j;
        s.e[first + j] -= mean;
        var += s.a[c] * s.a[c] * s.var_nc[first + j] + s.e[first + j] * s.e[first + j];
      }
      var /= static_cast<double>(D);
      const double rstd = 1.0 / std::sqrt(var + eps);
      s.rstd_ng[n * d.G + g] = rstd;
      const double scale = value_or(cn_gamma, g, 1.0) * rstd, shift = value_or(cn_beta, g, 0.0);
      for (std::int64_t j = 0; j < D; ++j) {
        A[first + j] = scale * s.a[g * D + j];
        B[first + j] = scale * s.e[first + j] + shift;
      }
    }
  }
}

template <class T>
struct GroupBackwardArgs {
  BatchChannelDims dims;
  const T *dy, *x, *cn_gamma;
  const BatchChannelStats* stats;
  T* dx;
  double *sum_dy, *sum_dyx;     // (N·C): Σ_l dy and Σ_l dy·(x − μ_nc)
  double *set_dy, *set_dyyhat;  // (N·G): Σ dy and Σ dy·ŷ over the group (before γ_g)
  double *coef_q, *coef_r;      // (N·G): Q_nc = coef_q·a_c, R_nc = coef_r + coef_q·e_nc
};

// One group (n, g) of the backward, eq. BCN14: with ŷ = rstd_ng·(a_c·(x − μ_nc) + e_nc),
//   sweep 1  S_nc = Σ_l dy,  U_nc = Σ_l dy·(x − μ_nc),
//            T_nc = Σ_l dy·ŷ = rstd_ng·(a_c·U_nc + e_nc·S_nc)
//            Σg = γ_g·Σ_c S_nc,  Σg·ŷ = γ_g·Σ_c T_nc                  (g = γ_g·dy, BCN8)
//   dy1 = rstd_ng·(g − Σg/m − ŷ·Σg·ŷ/m) = P·dy + Q_nc·(x − μ_nc) + R_nc (BCN9 regrouped)
//            P = rstd_ng·γ_g,  Q_nc = −rstd_ng²·(Σg·ŷ/m)·a_c,
//            R_nc = −rstd_ng·Σg/m − rstd_ng²·(Σg·ŷ/m)·e_nc
//   sweep 2  dx = a_c·dy1                            (BN10: μ̂ and rstd̂ are constants)
template <class T>
[[gnu::always_inline]] inline void group_backward(const GroupBackwardArgs<T>& k, std::int64_t s) {
  const BatchChannelDims& d = k.dims;
  const BatchChannelStats& st = *k.stats;
  const std::int64_t D = d.C / d.G, n = s / d.G, g = s % d.G, first = n * d.C + g * D;
  const double rstd = st.rstd_ng[s], gamma = value_or(k.cn_gamma, g, 1.0);
  const double m = static_cast<double>(D * d.L);
  double sum_dy = 0.0, sum_dyyhat = 0.0;
  for (std::int64_t j = 0; j < D; ++j) {  // sweep 1
    const std::int64_t i = first + j, at = i * d.L;
    double S = 0.0, U = 0.0;
    detail::add_dy_sums(k.dy + at, k.x + at, d.L, st.mean_nc[i], S, U);
    k.sum_dy[i] = S;
    k.sum_dyx[i] = U;
    sum_dy += S;
    sum_dyyhat += rstd * (st.a[g * D + j] * U + st.e[i] * S);
  }
  k.set_dy[s] = sum_dy;
  k.set_dyyhat[s] = sum_dyyhat;
  const double P = rstd * gamma, q = -rstd * rstd * gamma * sum_dyyhat / m,
               r = -rstd * gamma * sum_dy / m;
  k.coef_q[s] = q;
  k.coef_r[s] = r;
  for (std::int64_t j = 0; j < D; ++j) {  // sweep 2
    const std::int64_t i = first + j, at = i * d.L;
    const double a = st.a[g * D + j];
    detail::scaled_dx_run(k.dy + at, k.x + at, d.L, st.mean_nc[i], a * P, a * q * a,
                          a * (r + q * st.e[i]), k.dx + at);
  }
}

NORMLAB_MULTIVERSION void backward_one_group(const GroupBackwardArgs<float>& k, std::int64_t s) {
  group_backward(k, s);
}
NORMLAB_MULTIVERSION void backward_one_group(const GroupBackwardArgs<double>& k, std::int64_t s) {
  group_backward(k, s);
}

// eq. BCN15, from the sums of sweep 1: dβ_g = Σ_n Σ_c S_nc, dγ_g = Σ_n Σ_c T_nc, and with
// Σ_l (x − μ_nc) = 0, Σ_l (x − μ_nc)² = L·σ²_nc and f_nc = μ_nc − μ̂_c:
//   Σ_l dy1 = P·S_nc + L·R_nc,   Σ_l dy1·(x − μ_nc) = P·U_nc + Q_nc·L·σ²_nc,
//   dβ1_c = Σ_n Σ_l dy1,   dγ1_c = rstd̂_c·Σ_n (Σ_l dy1·(x − μ_nc) + f_nc·Σ_l dy1).
template <class T>
void parameter_grads(const GroupBackwardArgs<T>& k, BatchChannelGrads& grads) {
  const BatchChannelDims& d = k.dims;
  const BatchChannelStats& st = *k.stats;
  const std::int64_t D = d.C / d.G;
  const double L = static_cast<double>(d.L);
  grads.dcn_beta.assign(static_cast<std::size_t>(d.G), 0.0);
  grads.dcn_gamma.assign(static_cast<std::size_t>(d.G), 0.0);
  grads.dbn_beta.assign(static_cast<std::size_t>(d.C), 0.0);
  grads.dbn_gamma.assign(static_cast<std::size_t>(d.C), 0.0);
  for (std::int64_t n = 0; n < d.N; ++n) {
    for (std::int64_t c = 0; c < d.C; ++c) {
      const std::int64_t g = c / D, s = n * d.G + g, i = n * d.C + c;
      if (c % D == 0) {
        grads.dcn_beta[g] += k.set_dy[s];
        grads.dcn_gamma[g] += k.set_dyyhat[s];
      }
      const double P = st.rstd_ng[s] * value_or(k.cn_gamma, g, 1.0);
      const double Q = k.coef_q[s] * st.a[c], R = k.coef_r[s] + k.coef_q[s] * st.e[i];
      const double sum_dy1 = P * k.sum_dy[i] + L * R;
      const double sum_dy1_x = P * k.sum_dyx[i] + Q * L * st.var_nc[i];
      grads.dbn_beta[c] += sum_dy1;
      grads.dbn_gamma[c] +=
          st.est_rstd[c] * (sum_dy1_x + (st.mean_nc[i] - st.est_mean[c]) * sum_dy1);
    }
  }
}

bool worth_threads(const BatchChannelDims& d, std::int64_t sets) {
  return sets > 1 && d.N * d.C * d.L >= kParallelGrain;
}

}  // namespace

template <class T>
void batch_channel_forward(const BatchChannelDims& dims, const T* x, const StatsRule& rule,
                           const T* bn_gamma, const T* bn_beta, const T* cn_gamma, const T* cn_beta,
                           double eps, BatchChannelStats& stats, T* y) {
  const auto NC = static_cast<std::size_t>(dims.N * dims.C), C = static_cast<std::size_t>(dims.C);
  stats.mean_nc.assign(NC, 0.0);
  stats.var_nc.assign(NC, 0.0);
  stats.e.assign(NC, 0.0);
  for (auto* v :
       {&stats.batch_mean, &stats.batch_var, &stats.est_mean, &stats.est_rstd, &stats.a}) {
    v->assign(C, 0.0);
  }
  stats.rstd_ng.assign(static_cast<std::size_t>(dims.N * dims.G), 0.0);
  const NormPlan plan = sample_channel_plan(dims);
  std::vector<double> A(NC), B(NC);
  set_norm_statistics(plan, x, eps, stats.mean_nc.data(), stats.var_nc.data(), A.data());  // BCN10
  estimate_channels(dims, rule, bn_gamma, eps, stats);                   // BCN11, BCN1
  normalize_groups(dims, bn_beta, cn_gamma, cn_beta, eps, stats, A, B);  // BCN12
  // eq. BCN13, y = A_nc·(x − μ_nc) + B_nc: the family's forward with μ_nc, rstd = A_nc, d = B_nc
  set_norm_forward(plan, x, static_cast<const T*>(nullptr), static_cast<const T*>(nullptr),
                   Renorm{.r = nullptr, .d = B.data()}, 0.0, /*given_stats=*/true,
                   stats.mean_nc.data(), nullptr, A.data(), y);
}

template <class T>
void batch_channel_backward(const BatchChannelDims& dims, const T* dy, const T* x,
                            const T* cn_gamma, const BatchChannelStats& stats, T* dx,
                            BatchChannelGrads& grads) {
  const std::int64_t sets = dims.N * dims.G;
  std::vector<double> sums(2 * static_cast<std::size_t>(dims.N * dims.C)),
      per_set(4 * static_cast<std::size_t>(sets));
  const GroupBackwardArgs<T> k{.dims = dims,
                               .dy = dy,
                               .x = x,
                               .cn_gamma = cn_gamma,
                               .stats = &stats,
                               .dx = dx,
                               .sum_dy = sums.data(),
                               .sum_dyx = sums.data() + dims.N * dims.C,
                               .set_dy = per_set.data(),
                               .set_dyyhat = per_set.data() + sets,
                               .coef_q = per_set.data() + 2 * sets,
                               .coef_r = per_set.data() + 3 * sets};
#pragma omp parallel for schedule(static) if (worth_threads(dims, sets))
  for (std::int64_t s = 0; s < sets; ++s) {
    backward_one_group(k, s);
  }
  parameter_grads(k, grads);
}

template void batch_channel_forward<float>(const BatchChannelDims&, const float*, const StatsRule&,
                                           const float*, const float*, const float*, const float*,
                                           double, BatchChannelStats&, float*);
template void batch_channel_forward<double>(const BatchChannelDims&, const double*,
                                            const StatsRule&, const double*, const double*,
                                            const double*, const double*, double,
                                            BatchChannelStats&, double*);
template void batch_channel_backward<float>(const BatchChannelDims&, const float*, const float*,
                                            const float*, const BatchChannelStats&, float*,
                                            BatchChannelGrads&);
template void batch_channel_backward<double>(const BatchChannelDims&, const double*, const double*,
                                             const double*, const BatchChannelStats&, double*,
                                             BatchChannelGrads&);

}  // namespace normlab
