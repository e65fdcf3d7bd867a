// tests/layers/layer_test_helpers.h: leaves, gradcheck and comparison helpers for the layer tests.
#pragma once

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "core/random.h"
#include "core/tensor_math.h"
#include "layers/module.h"

namespace normlab::test {

inline Variable leaf(const Shape& shape, Rng& rng, DType dtype = DType::f64) {
  return Variable(randn(shape, dtype, rng), true);
}

// Tight defaults for float64 layers with smooth outputs.
inline GradcheckOptions tight() {
  return {.step = 1e-6, .atol = 1e-7, .rtol = 1e-5};
}

inline void require_gradcheck(const GradcheckFunction& f, const std::vector<Variable>& inputs,
                              const GradcheckOptions& options = tight()) {
  const GradcheckReport r = gradcheck(f, inputs, options);
  INFO(r.worst());
  REQUIRE(r.ok());
}

// Gradcheck of a module in float64 over its input and every parameter (weight, bias, ...).
inline void require_module_gradcheck(Module& m, const Variable& x,
                                     const GradcheckOptions& options = tight()) {
  std::vector<Variable> inputs{x};
  std::vector<Variable*> params = m.parameters();
  for (Variable* p : params) {
    inputs.push_back(*p);
  }
  // The parameters are passed as extra gradcheck inputs; they are the module's own Variables, so
  // the perturbation gradcheck makes is the one the module sees.
  const auto f = [&m](const std::vector<Variable>& in) { return m.forward(in[0]); };
  require_gradcheck(f, inputs, options);
}

// |a − b| ≤ rtol · max(1, max|b|) elementwise, as one scaled bound over the tensor. False for any
// NaN in a or b and for an infinity in a that b does not have (core/tensor_math.h).
inline bool golden_close(const Tensor& a, const Tensor& b, double rtol) {
  if (a.shape() != b.shape()) {
    return false;
  }
  const double scale = std::max(1.0, max_abs(b));
  return max_abs_diff(a.to(DType::f64), b.to(DType::f64)) <= rtol * scale;
}

inline void require_close(const Tensor& a, const Tensor& b, double rtol, const std::string& what) {
  INFO(what << ": shapes " << to_string(a.shape()) << " vs " << to_string(b.shape()));
  REQUIRE(a.shape() == b.shape());
  INFO(what << ": max |a - b| = " << max_abs_diff(a.to(DType::f64), b.to(DType::f64)) << ", scale "
            << std::max(1.0, max_abs(b)));
  REQUIRE(golden_close(a, b, rtol));
}

}  // namespace normlab::test
