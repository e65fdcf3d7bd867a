// tests/test_helpers.h: the helpers every test folder shares (no state): float64 leaves, the one
// gradcheck tolerance and its assertion, and value comparisons. Folder-specific helpers build on
// it (tests/layers/layer_test_helpers.h, tests/layers/norm/norm_test_util.h).
#pragma once

#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

#include "autograd/gradcheck.h"
#include "autograd/variable.h"
#include "core/random.h"
#include "core/tensor_math.h"

namespace normlab::test {

// Tight enough that a wrong factor or a dropped term fails, loose enough for central differences
// in float64 (truncation ~h², round-off ~1e-16/h); the worst error the tests see is about 1e-9.
inline GradcheckOptions tight() {
  return {.step = 1e-6, .atol = 1e-7, .rtol = 1e-5};
}

// A leaf with standard-normal values that requires a gradient (float64 unless asked otherwise).
inline Variable leaf(const Shape& shape, Rng& rng, DType dtype = DType::f64) {
  return Variable(randn(shape, dtype, rng), true);
}

// A float64 leaf that requires a gradient, filled with N(mean, std²).
inline Variable randn_leaf(const Shape& shape, Rng& rng, double mean = 0.0, double std = 1.0) {
  return Variable(randn(shape, DType::f64, rng, mean, std), true);
}

// Like leaf, with values in [lo, hi) (for log, sqrt, pow, div denominators).
inline Variable uniform_leaf(Shape shape, Rng& rng, double lo, double hi) {
  return Variable(rand_uniform(std::move(shape), DType::f64, rng, lo, hi), true);
}

// A leaf of `shape` whose data is a non-contiguous view: a tensor stored with dims 0 and 1 swapped,
// then transposed back.
inline Variable transposed_leaf(Shape shape, Rng& rng, double lo = 0.0, double hi = 0.0) {
  std::swap(shape[0], shape[1]);
  Tensor t = lo < hi ? rand_uniform(shape, DType::f64, rng, lo, hi) : randn(shape, DType::f64, rng);
  Tensor view = t.transpose(0, 1);
  REQUIRE_FALSE(view.is_contiguous());
  return Variable(view, true);
}

// REQUIREs that the hand-written backward of f agrees with central differences at inputs.
inline void require_gradcheck(const GradcheckFunction& f, const std::vector<Variable>& inputs,
                              const GradcheckOptions& options = tight()) {
  const GradcheckReport r = gradcheck(f, inputs, options);
  INFO(r.worst());
  REQUIRE(r.ok());
}

// REQUIREs t to have `shape` and the row-major values `want`, each within tol.
inline void require_values(const Tensor& t, const Shape& shape, const std::vector<double>& want,
                           double tol = 1e-12) {
  REQUIRE(t.shape() == shape);
  const Tensor d = t.to(DType::f64).contiguous();
  const auto got = d.data<double>();
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    INFO("element " << i);
    REQUIRE(got[i] == Approx(want[i]).margin(tol).epsilon(tol));
  }
}

inline Tensor values(Shape shape, const std::vector<double>& v, DType dtype = DType::f64) {
  return Tensor::from_vector(std::move(shape), v, dtype);
}

// |a − b| ≤ rtol · max(1, max|b|) elementwise, as one scaled bound over the tensor.
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
