// layers/norm/set_norm_kernels.h: the fast path of the whole set-normalization family, written
// once. BN, LN, IN, GN, channel norm, batch renormalization and RMSNorm all run these three
// kernels; each layer only says which sets S_i it normalizes over (SetLayout) and how its γ, β
// index the elements (AffineLayout). docs/normalization/derivation.md, eq. D0–D5, and
// docs/normalization/performance.md (why the kernels are shaped this way).
//
// Memory: the forward reads x and writes y; the backward reads dy and x and writes dx. x̂ is never
// stored: the backward recomputes x̂ = (x − μ_s)·rstd_s from the saved x, μ and rstd (in double),
// which saves writing and reading one tensor of the size of x. Each set is processed whole by one
// thread while it sits in cache, so the second sweep of a set (normalize after the statistics, dx
// after the two sums) reads cache, not memory. Arithmetic: every sum is in double, over independent
// vector lanes. The statistics are one sweep of sums shifted by the set's first value for float32
// (eq. D0'), two passes per chunk of a row merged with Chan et al.'s update for float64 (eq. D0),
// never E[x²] − E[x]². The float32 forward normalizes in float32 from μ split into a float32 and
// the rest; dx is computed in double.
#pragma once

#include <cstdint>
#include <vector>

#include "layers/norm/norm_core.h"

namespace normlab {

// How γ and β index the elements of a set's row (x viewed as (outer, sets, inner)).
//   per_run       each row is `inner / run` runs of `run` elements; run j of a row of set s uses
//                 parameter (s mod period)·stride + j. BN (period C, run H·W), IN (period C, run
//                 H·W), GN (period G, stride C/G, run H·W), channel norm (period G, run = inner).
//                 Without an affine, γ and β are null and the layout is still per_run.
//   per_position  element d of the (single) row uses parameter d: LN and RMSNorm, whose γ, β
//                 have the shape of the normalized dimensions. Needs outer = 1.
struct AffineLayout {
  enum class Kind : std::uint8_t { per_run, per_position };
  Kind kind = Kind::per_run;
  std::int64_t period = 1, stride = 1, run = 1;
  std::int64_t numel = 0;  // parameters in γ (and in β)
};

// One normalization: its sets, its affine, and whether the mean is subtracted (false: RMSNorm,
// x̂ = x·rstd with rstd = 1/sqrt((1/m)Σx² + ε)).
struct NormPlan {
  SetLayout sets;
  AffineLayout affine;
  bool subtract_mean = true;
};

// The affine layout of a per-channel γ_c, β_c for x (N, C, *) normalized over `sets`, whose sets
// are (sample, group of C/groups channels) when sets.sets = N·groups, or channels (BN) when outer =
// N. per_run with run = H·W.
AffineLayout per_channel_affine(const Shape& x, SetLayout sets);

// Batch renormalization's per-set correction (Ioffe 2017): y = γ·(x̂·r_s + d_s) + β, with r, d
// treated as constants. Null: r = 1, d = 0.
struct Renorm {
  const double* r = nullptr;
  const double* d = nullptr;
};

// A rule that turns a set's batch statistics into the ones it is normalized with, applied inside
// the forward right after the set's statistics, so that x is read once (not once for
// set_norm_statistics and again to normalize):
//   renorm          batch renormalization (Ioffe 2017): μ_s and rstd_s are the batch's, and
//                   r_s = clip(σ_s / σ_run, 1/r_max, r_max), d_s = clip((μ_s − μ_run) / σ_run,
//                   −d_max, d_max) with σ_s = sqrt(σ²_s + ε), written to r and d.
//   moving_average  the estimated batch norm: μ̂_s = (1 − α)·μ̂_old + α·μ_s and
//                   σ̂²_s = (1 − α)·σ̂²_old + α·σ²_s, rounded to float32 when the module keeps
//                   them in float32, then normalizes with μ̂_s and rstd = 1/sqrt(σ̂²_s + ε),
//                   written to used_mean and used_rstd.
// running_mean, running_scale: (sets) μ_run and σ_run (renorm) or μ̂_old and σ̂²_old.
struct StatsRule {
  enum class Kind : std::uint8_t { renorm, moving_average };
  Kind kind = Kind::renorm;
  const double* running_mean = nullptr;
  const double* running_scale = nullptr;
  double r_max = 1.0, d_max = 0.0;                    // renorm
  double momentum = 0.0;                              // moving_average
  bool round_to_float = false;                        // moving_average
  double *r = nullptr, *d = nullptr;                  // renorm: out, (sets)
  double *used_mean = nullptr, *used_rstd = nullptr;  // moving_average: out, (sets)
};

// The moving_average rule for set s: μ̂_s and rstd̂_s = 1/sqrt(σ̂²_s + ε) from the batch's μ_s and
// biased σ²_s (rounded to float32 as the rule says). The fused Batch-Channel Normalization
// (batch_channel_kernels.h) calls it too, so both estimate alike.
struct EstimatedStats {
  double mean, rstd;
};
EstimatedStats moving_average_stats(const StatsRule& rule, std::int64_t s, double mean, double var,
                                    double eps);

// Forward over every set (threads over sets):
//   statistics (unless `given_stats`): μ_s, σ²_s (biased; for RMSNorm μ = 0, σ² = (1/m)Σx²),
//   rstd_s = 1/sqrt(σ²_s + ε), then  y = γ_p·((x − μ_s)·rstd_s·r_s + d_s) + β_p.
// With given_stats, mean and rstd are read (BN in eval mode: running statistics) and var is not
// touched. x, y: (outer, sets, inner); gamma, beta: (affine.numel) or null; mean, var, rstd: (sets)
// With a rule (not with given_stats), mean, var and rstd still receive the batch's statistics, and
// the set is normalized by what the rule makes of them (renorm is then ignored).
template <class T>
void set_norm_forward(const NormPlan& plan, const T* x, const T* gamma, const T* beta,
                      Renorm renorm, double eps, bool given_stats, double* mean, double* var,
                      double* rstd, T* y, const StatsRule* rule = nullptr);

// The statistics alone (the first half of set_norm_forward): μ_s, σ²_s, rstd_s. x is read once.
template <class T>
void set_norm_statistics(const NormPlan& plan, const T* x, double eps, double* mean, double* var,
                         double* rstd);

// Backward over every set, given dy and the forward's x, mean, rstd (x̂ is recomputed):
//   dβ_p = Σ dy,  dγ_p = Σ dy·(x̂·r + d)                         (over the elements using p)
//   g = γ_p·r_s·dy (never stored);  per set Σg and Σg·x̂ from the same sweep
//   dx = rstd_s/m · (m·g − Σg − x̂·Σg·x̂)                         (eq. D4; RMSNorm drops Σg)
// With constant_stats (eval mode: μ and rstd do not depend on x) dx = rstd_s·g (eq. BN10).
// dgamma, dbeta: (affine.numel), written (not accumulated); either may be null.
template <class T>
void set_norm_backward(const NormPlan& plan, const T* dy, const T* x, const T* gamma, Renorm renorm,
                       const double* mean, const double* rstd, bool constant_stats, T* dx,
                       double* dgamma, double* dbeta);

}  // namespace normlab
