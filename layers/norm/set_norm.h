// layers/norm/set_norm.h: the one autograd wrapper and node of the set-normalization family.
// Every layer that normalizes over sets (BN, LN, IN, GN, channel norm, batch renormalization,
// RMSNorm) builds a NormPlan from its own S_i and affine and calls set_norm; the node saves x, μ
// and rstd per set (not x̂: see set_norm_kernels.h) and its backward is set_norm_backward.
// docs/normalization/derivation.md, eq. D0–D5.
#pragma once

#include <string_view>
#include <vector>

#include "autograd/variable.h"
#include "layers/norm/set_norm_kernels.h"

namespace normlab {

// The statistics of one forward, per set: μ_s and the biased σ²_s (for RMSNorm the mean square).
struct SetStats {
  std::vector<double> mean, var;
  std::int64_t m = 0;  // elements per set
};

// Batch renormalization's r_s, d_s (empty: none), constants of the backward.
struct RenormFactors {
  std::vector<double> r, d;
};

// y = γ_p·(x̂·r_s + d_s) + β_p with x̂ normalized by the statistics of x over plan.sets. `op` names
// errors and the node ("group_norm"); it must outlive the graph (a string literal). weight and bias
// may be undefined; defined ones must hold plan.affine.numel elements of x's dtype. stats, when
// not null, receives μ and σ² per set.
Variable set_norm(std::string_view op, const Variable& x, const NormPlan& plan,
                  const Variable& weight, const Variable& bias, double eps,
                  SetStats* stats = nullptr, RenormFactors renorm = {});

// The statistics of x over plan.sets, computed by the fast kernel (x is read once).
SetStats set_statistics(std::string_view op, const Tensor& x, const NormPlan& plan);

// The same normalization with μ_s and rstd_s given. With `constant` (BatchNorm in eval mode, the
// estimated batch norm) they do not depend on x, so the backward is dx = rstd_s·γ_p·r_s·dy
// (eq. BN10); without it they are x's own batch statistics (batch renormalization, which needs
// them before it can compute r and d) and the backward is eq. D4. ShapeError unless mean and rstd
// have plan.sets.sets values.
struct GivenStats {
  std::vector<double> mean, rstd;
  bool constant = true;
  RenormFactors renorm;
};
Variable set_norm_with_stats(std::string_view op, const Variable& x, const NormPlan& plan,
                             GivenStats stats, const Variable& weight, const Variable& bias);

// set_norm whose sets are normalized by what `rule` makes of their batch statistics, inside the
// forward kernel (set_norm_kernels.h): batch renormalization (rule.kind renorm: the backward is
// eq. D4 with r and d as constants) or the estimated batch norm (moving_average: the backward
// treats μ̂ and rstd̂ as constants). The rule's running statistics must hold plan.sets.sets values;
// its output pointers are filled here and the values returned in `out`. batch, when not null,
// receives the batch's μ and σ² per set.
struct RuleOutputs {
  std::vector<double> r, d;                  // renorm
  std::vector<double> used_mean, used_rstd;  // moving_average
};
Variable set_norm_with_rule(std::string_view op, const Variable& x, const NormPlan& plan,
                            StatsRule rule, const Variable& weight, const Variable& bias,
                            double eps, SetStats* batch, RuleOutputs* out);

}  // namespace normlab
