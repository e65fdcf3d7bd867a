// Invariants of the set normalization x̂ = (x − μ_S)/σ_S that every layout must satisfy
// (docs/normalization/derivation.md, eq. D6–D8), for the normalized output without affine:
//   within every set S_i:  Σ dx = 0  and  Σ dx·x̂ = 0
//   scale: f(a·x) = f(x), dx(a·x) = dx(x)/a for a > 0;   shift: f(x + c) = f(x)
// and the float32 statistics of an input with mean 1e4 and standard deviation 1.
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <string>

#include "core/random.h"
#include "core/tensor_math.h"
#include "layers/norm/batch_channel_norm.h"
#include "layers/norm/batch_norm.h"
#include "layers/norm/group_norm.h"
#include "layers/norm/instance_norm.h"
#include "layers/norm/layer_norm.h"
#include "layers/norm/norm_core.h"
#include "layers/norm/rms_norm.h"
#include "layers/norm/weight_standardization.h"
#include "tests/layers/norm/norm_test_util.h"

using namespace normlab;
using namespace normlab::test;

namespace {

// ε small enough that (a·σ)² + ε and a²·(σ² + ε) agree to 1e-12 for σ ≈ 1.
constexpr double kTinyEps = 1e-14;

struct NormUnderTest {
  std::string name;
  Shape shape;
  SetLayout sets;  // S_i of the layer for that shape
  std::function<Variable(const Variable&)> f;
};

std::vector<NormUnderTest> norms_under_test() {
  const std::int64_t N = 3, C = 4, H = 2, W = 3, HW = H * W;
  const Shape s{N, C, H, W};
  return {
      {"batch_norm",
       s,
       {N, C, HW},
       [](const Variable& x) { return batch_norm_train(x, {}, {}, kTinyEps); }},
      {"layer_norm",
       s,
       {1, N, C * HW},
       [=](const Variable& x) {
         return layer_norm(x, {C, H, W}, {}, {}, kTinyEps);
       }},
      {"instance_norm",
       s,
       {1, N * C, HW},
       [](const Variable& x) { return instance_norm(x, {}, {}, kTinyEps); }},
      {"group_norm",
       s,
       {1, N * 2, 2 * HW},
       [](const Variable& x) { return group_norm(x, 2, {}, {}, kTinyEps); }},
      {"batch_channel_norm channel norm",
       s,
       {1, N * 2, 2 * HW},
       [](const Variable& x) {
         return group_norm(x, 2, {}, {}, kTinyEps, GroupAffine::per_group);
       }},
      {"weight_standardization",
       {5, 2, 3, 3},
       {1, 5, 18},
       [](const Variable& w) { return weight_standardize(w, kTinyEps); }},
  };
}

Tensor grad_for(const std::function<Variable(const Variable&)>& f, const Tensor& x,
                const Tensor& dy) {
  const Variable xv(x.clone(), true);
  f(xv).backward(dy);
  return xv.grad();
}

}  // namespace

TEST_CASE("norm gradients sum to zero and are orthogonal to xhat within every set",
          "[batch_norm][layer_norm][instance_norm][group_norm][weight_standardization]") {
  for (const NormUnderTest& t : norms_under_test()) {
    CAPTURE(t.name);
    Rng rng{91};
    const Tensor x = randn(t.shape, DType::f64, rng, 1.5, 2.0);
    const Tensor dy = randn(t.shape, DType::f64, rng);
    const Tensor xhat = t.f(Variable(x)).data();
    const Tensor dx = grad_for(t.f, x, dy);
    const auto [outer, sets, inner] = t.sets;
    const std::vector<double> sum_dx = per_set_sums(dx, {}, outer, sets, inner);
    const std::vector<double> sum_dx_xhat = per_set_sums(dx, xhat, outer, sets, inner);
    const std::vector<double> sum_xhat = per_set_sums(xhat, {}, outer, sets, inner);
    for (std::int64_t s = 0; s < sets; ++s) {
      const auto k = static_cast<std::size_t>(s);
      REQUIRE(std::abs(sum_dx[k]) < 1e-12);       // eq. D6
      REQUIRE(std::abs(sum_dx_xhat[k]) < 1e-12);  // eq. D7
      REQUIRE(std::abs(sum_xhat[k]) < 1e-12);     // Σ x̂ = 0, why Σy is a blind loss
    }
  }
}

TEST_CASE("norm outputs are scale and shift invariant and gradients scale as 1/a",
          "[batch_norm][layer_norm][instance_norm][group_norm][weight_standardization]") {
  for (const NormUnderTest& t : norms_under_test()) {
    CAPTURE(t.name);
    Rng rng{92};
    const Tensor x = randn(t.shape, DType::f64, rng, -0.5, 1.0);
    const Tensor dy = randn(t.shape, DType::f64, rng);
    const Tensor y = t.f(Variable(x)).data();
    const Tensor dx = grad_for(t.f, x, dy);
    for (const double a : {0.25, 3.0}) {
      Tensor ax = x.clone();
      scale_(ax, a);
      REQUIRE(max_abs_diff(t.f(Variable(ax)).data(), y) < 1e-11);  // eq. D8
      Tensor dx_over_a = dx.clone();
      scale_(dx_over_a, 1.0 / a);
      REQUIRE(max_abs_diff(grad_for(t.f, ax, dy), dx_over_a) < 1e-10);
    }
    Tensor shifted = x.clone();
    add_(shifted, Tensor::full(t.shape, 1.0, DType::f64), 7.5);
    REQUIRE(max_abs_diff(t.f(Variable(shifted)).data(), y) < 1e-11);
    REQUIRE(max_abs_diff(grad_for(t.f, shifted, dy), dx) < 1e-10);
  }
}

TEST_CASE("rms_norm is scale invariant and its gradient is orthogonal to xhat", "[rms_norm]") {
  Rng rng{93};
  auto f = [](const Variable& x) { return rms_norm(x, {6}, {}, kTinyEps); };
  const Tensor x = randn({4, 6}, DType::f64, rng, 0.5, 1.0);
  const Tensor dy = randn({4, 6}, DType::f64, rng);
  const Tensor xhat = f(Variable(x)).data();
  const Tensor dx = grad_for(f, x, dy);
  for (const double v : per_set_sums(dx, xhat, 1, 4, 6)) {
    REQUIRE(std::abs(v) < 1e-12);  // eq. RMS7: no mean term, so Σ dx ≠ 0 but Σ dx·x̂ = 0
  }
  Tensor ax = x.clone();
  scale_(ax, 5.0);
  REQUIRE(max_abs_diff(f(Variable(ax)).data(), xhat) < 1e-12);
  Tensor dx_over_a = dx.clone();
  scale_(dx_over_a, 0.2);
  REQUIRE(max_abs_diff(grad_for(f, ax, dy), dx_over_a) < 1e-12);
}

TEST_CASE("norm statistics of a float32 input with mean 1e4 match float64 within 1e-3",
          "[batch_norm][layer_norm][instance_norm][group_norm][float32]") {
  Rng rng{94};
  const Tensor x32 = randn({4, 6, 5, 5}, DType::f32, rng, 1e4, 1.0);
  const Tensor x64 = x32.to(DType::f64);  // the same values, so only the arithmetic differs
  const std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> layers{
      {"batch_norm",
       [](const Tensor& x) { return batch_norm_train(Variable(x), {}, {}, 1e-5).data(); }},
      {"layer_norm",
       [](const Tensor& x) {
         return layer_norm(Variable(x), {6, 5, 5}, {}, {}, 1e-5).data();
       }},
      {"instance_norm",
       [](const Tensor& x) { return instance_norm(Variable(x), {}, {}, 1e-5).data(); }},
      {"group_norm",
       [](const Tensor& x) { return group_norm(Variable(x), 3, {}, {}, 1e-5).data(); }},
  };
  for (const auto& [name, f] : layers) {
    CAPTURE(name);
    const Tensor y32 = f(x32), y64 = f(x64);
    REQUIRE(max_abs(y64) > 1.0);  // the normalized values are O(1), not swamped by the mean
    REQUIRE(max_abs_diff(y32.to(DType::f64), y64) < 1e-3);
  }
}
