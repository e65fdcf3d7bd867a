// tests/layers/norm/norm_test_util.h: small helpers the normalization tests share (no state), on
// top of the shared helpers of tests/test_helpers.h (randn_leaf, tight).
#pragma once

#include <cstdint>
#include <vector>

#include "autograd/variable.h"
#include "core/random.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "tests/test_helpers.h"

namespace normlab::test {

// Parameters of a float64 module with random values, so γ = 1, β = 0 hide nothing.
inline void randomize(Variable& p, Rng& rng, double mean = 1.0, double std = 0.5) {
  if (p.defined()) {
    Tensor& t = p.data();
    fill_normal_(t, rng, mean, std);
  }
}

// The gradient one backward pass gives x for the upstream gradient w.
inline Tensor grad_of(const Variable& y, const Variable& x, const Tensor& w) {
  y.backward(w);
  return x.grad();
}

// Per set s of the layout (outer, sets, inner): Σ_{k∈S_s} a_k·b_k (b empty: Σ a_k).
inline std::vector<double> per_set_sums(const Tensor& a, const Tensor& b, std::int64_t outer,
                                        std::int64_t sets, std::int64_t inner) {
  const Tensor ad = a.to(DType::f64).contiguous();
  const Tensor bd = b.defined() ? b.to(DType::f64).contiguous() : Tensor();
  std::vector<double> out(static_cast<std::size_t>(sets), 0.0);
  const auto av = ad.data<double>();
  for (std::int64_t o = 0; o < outer; ++o) {
    for (std::int64_t s = 0; s < sets; ++s) {
      for (std::int64_t d = 0; d < inner; ++d) {
        const auto k = static_cast<std::size_t>((o * sets + s) * inner + d);
        out[static_cast<std::size_t>(s)] += av[k] * (bd.defined() ? bd.data<double>()[k] : 1.0);
      }
    }
  }
  return out;
}

}  // namespace normlab::test
