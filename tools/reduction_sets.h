// tools/reduction_sets.h: the reduction sets S_i of a normalization layer of the table, from the
// layer's public layout functions (layers/norm/), with x's statistics in each set computed here
// from the formulas of docs/normalization/derivation.md (eq. D0, eq. 1). `normlab jacobian` checks
// its per-set invariants with them and outlines them in its picture; `normlab explain` prints them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "layers/layer_options.h"
#include "layers/module.h"
#include "layers/norm/norm_core.h"

namespace normlab {

struct ReductionSets {
  std::string rule;            // "S_i = {k : k_C = i_C}", the set in the GN paper's notation
  std::string source;          // "BatchNorm, GN paper eq. 3"
  SetLayout layout;            // x viewed as (outer, sets, inner)
  bool subtracts_mean = true;  // false for RMSNorm, which divides by the root mean square
  double eps = 0;
  std::vector<double> mean, var, rstd;  // per set; RMSNorm: mean 0 and var = mean of x²
  std::vector<double> xhat;             // per element of x: (x − μ)·rstd
  std::vector<double> gamma;            // per element of x: the affine's γ (1 without one)
  std::vector<double> beta;             // per element of x: the affine's β (0 without one)
  // per element of x: the factor of its row of J = ∂y/∂x, J_S = diag(row_scale)·P_S with P_S the
  // symmetric Jacobian of x̂ (eq. D4). γ; for Batch Renorm in training γ·r_c (BRN5, r constant).
  std::vector<double> row_scale;
  std::vector<std::int64_t> affine_index;  // per element of x: its index into γ and β
  std::string affine;                      // "per channel gamma_c, beta_c", "elementwise", "none"

  std::int64_t count() const { return layout.sets; }
  std::int64_t set_of(std::int64_t k) const { return (k / layout.inner) % layout.sets; }
  // The flat indices of x in set s, ascending.
  std::vector<std::int64_t> members(std::int64_t s) const;
};

// The sets of `layer` (a name of the layer table) for x (float64, contiguous), or nullopt for a
// layer that normalizes over no sets (linear, conv2d, pooling, LRN, batch_channel_norm, ...).
// BatchNorm and Batch Renorm in eval mode still get their training sets: the invariants are then
// shown not to hold. `module` is the built layer (its weight and bias are read).
std::optional<ReductionSets> reduction_sets(const std::string& layer, const LayerOptions& options,
                                            Module& module, const Tensor& x);

}  // namespace normlab
