// autograd/gradcheck.h: compares a hand-written backward with central finite differences.
// Like torch.autograd.gradcheck, this is a library function, usable outside the tests.
//   numeric  n = (L(x + h·e_k) − L(x − h·e_k)) / 2h            for every element k of every input
//   analytic a = ∂L/∂x_k from one backward pass
//   pass     |a − n| ≤ atol + rtol·|n|
// For an output y with more than one element, L = Σ w⊙y with a random w drawn from `seed`:
// Σy and ½Σy² are blind for normalization layers (STYLE.md 3.7).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "autograd/variable.h"

namespace normlab {

struct GradcheckOptions {
  double step = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  std::uint64_t seed = 20240601;     // for the upstream weighting w
  std::int64_t max_elements = 4096;  // per input; larger inputs check a seeded random subset
};

struct GradcheckMismatch {
  std::size_t input = 0;
  std::vector<std::int64_t> index;
  double analytic = 0.0;
  double numeric = 0.0;
};

struct GradcheckReport {
  std::vector<GradcheckMismatch> mismatches;
  double max_abs_error = 0.0;  // over every checked element
  std::int64_t checked = 0;
  std::uint64_t seed = 0;
  bool ok() const { return mismatches.empty() && checked > 0; }
  std::string worst() const;  // "input 0 at [1, 2]: analytic -0.41 numeric -0.40 (seed 7)"
};

using GradcheckFunction = std::function<Variable(const std::vector<Variable>&)>;

// inputs: float64 leaves. Those with requires_grad are checked; the others are passed through.
GradcheckReport gradcheck(const GradcheckFunction& f, const std::vector<Variable>& inputs,
                          const GradcheckOptions& options = {});

}  // namespace normlab
