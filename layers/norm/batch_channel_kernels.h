// layers/norm/batch_channel_kernels.h: Batch-Channel Normalization's training pass with estimated
// statistics, fused (eq. BCN10–BCN15, docs/normalization/batch_channel_norm.md). The composition
// estimated batch norm → channel norm writes y1 = a_c·(x − μ̂_c) + β1_c and reads it back twice
// (forward), then writes dy1 and reads it back (backward). y1 is an affine map of x per channel, so
// the channel norm's statistics of y1 follow from the per-(sample, channel) statistics of x, and
// y = A_nc·(x − μ_nc) + B_nc, dx = a·dy + b·(x − μ_nc) + c per (sample, channel): the forward reads
// x for the statistics and writes y, the backward reads dy and x once per group and writes dx, as
// GroupNorm does. Both run on the family's kernels and loops (set_norm_kernels.h,
// set_norm_loops.h).
#pragma once

#include <cstdint>
#include <vector>

#include "layers/norm/set_norm_kernels.h"

namespace normlab {

// x (N, C, L), G groups of D = C/G channels; a set of the channel norm is (n, g), m = D·L values.
struct BatchChannelDims {
  std::int64_t N = 0, C = 0, G = 1, L = 0;
};

// What the forward computes and the backward needs, in double.
struct BatchChannelStats {
  std::vector<double> mean_nc, var_nc;        // (N·C) μ_nc and biased σ²_nc of x (eq. BCN10)
  std::vector<double> batch_mean, batch_var;  // (C) the batch's μ_c and biased σ²_c (eq. BCN11)
  std::vector<double> est_mean, est_rstd;  // (C) μ̂_c and rstd̂_c of the moving average (BCN1)
  std::vector<double> a;        // (C) a_c = γ1_c·rstd̂_c: y1 = a_c·(x − μ̂_c) + β1_c
  std::vector<double> e;        // (N·C) e_nc = ν_nc − μ_ng, ν_nc the mean of y1
  std::vector<double> rstd_ng;  // (N·G) the channel norm's rstd (eq. BCN12)
};

// Forward, training: the statistics of x per (n, c) (one sweep), the batch's per channel, the
// estimates μ̂_c, rstd̂_c by `rule` (StatsRule::Kind::moving_average over the C channels), the
// channel norm's μ_ng, rstd_ng of y1, then y = γ_g·rstd_ng·(y1 − μ_ng) + β_g in one sweep
// (eq. BCN13). bn_gamma, bn_beta (C) and cn_gamma, cn_beta (G) may be null (1 and 0). x, y:
// (N, C, L).
template <class T>
void batch_channel_forward(const BatchChannelDims& dims, const T* x, const StatsRule& rule,
                           const T* bn_gamma, const T* bn_beta, const T* cn_gamma, const T* cn_beta,
                           double eps, BatchChannelStats& stats, T* y);

// Gradients of the backward, in double: dγ1, dβ1 (C), dγ_g, dβ_g (G).
struct BatchChannelGrads {
  std::vector<double> dbn_gamma, dbn_beta, dcn_gamma, dcn_beta;
};

// Backward (eq. BCN14, BCN15): per group (n, g), one sweep of dy and x for Σdy and Σdy·(x − μ_nc)
// of each channel, then dx = a_c·dy1 with dy1 = P·dy + Q·(x − μ_nc) + R while the group is in
// cache; then the four parameter gradients from the per-(n, c) sums. μ̂ and rstd̂ are constants (as
// in the estimated batch norm), μ_ng and rstd_ng are not. cn_gamma may be null.
template <class T>
void batch_channel_backward(const BatchChannelDims& dims, const T* dy, const T* x,
                            const T* cn_gamma, const BatchChannelStats& stats, T* dx,
                            BatchChannelGrads& grads);

}  // namespace normlab
