// tools/explain.h: `normlab explain` as a library function (tools/cmd_explain.cpp is its CLI).
// Every intermediate of one normalization layer's forward and backward on a small input, as
// Markdown labelled with the equation numbers of docs/normalization/derivation.md:
//   forward:  μ, σ², rstd (D0), x̂ (eq. 1), y (D5)
//   backward: dβ, dγ, g = γ·dy (D5), Σg and Σg·x̂ per set, dx (D4)
// The intermediates are computed here from the formulas, over the sets of the layer's own layout
// function (tools/reduction_sets.h); the real layer then runs forward and backward through the
// Variable path (run_probe), and the largest difference of y, dx, dγ and dβ is printed, so the
// numbers shown are those of the hand-written backward. Then the invariants D6 and D7 per set.
#pragma once

#include <string>

#include "tools/probe.h"

namespace normlab {

// The layers explain knows: the normalizations with sets (batch_norm, layer_norm, instance_norm,
// group_norm, rms_norm). request.grad_output undefined: dy ~ N(0, 1) from Rng(seed + 1), never
// all ones (whose dx is zero when γ is constant on each set, eq. D6). `command` is printed as the
// heading. ValueError for another layer, for eval mode with running statistics of a layer other
// than batch_norm, and for an input of more than 256 elements (every element is printed).
std::string explain(const ProbeRequest& request, const std::string& command);

}  // namespace normlab
