// Batch Renormalization: gradcheck where r and d are clipped (locally constant), the paper's
// stop-gradient backward where they are not, running μ and σ, and eval mode.
#include <catch2/catch.hpp>
#include <cmath>

#include "autograd/gradcheck.h"
#include "core/error.h"
#include "core/tensor_math.h"
#include "layers/norm/batch_norm.h"
#include "layers/norm/batch_renorm.h"
#include "tests/layers/norm/norm_test_util.h"

using namespace normlab;
using namespace normlab::test;

TEST_CASE("batch_renorm backward matches central differences where r and d are clipped",
          "[batch_renorm][gradcheck]") {
  // Running σ far from σ_B and μ far from μ_B: r = ±r_max-clipped and d = ±d_max-clipped, so the
  // stop-gradient r and d are also the true local derivatives' constants.
  const auto [shape, r_max, d_max] = GENERATE(table<Shape, double, double>({
      {{4, 3}, 3.0, 5.0},
      {{2, 3, 2, 2}, 2.0, 0.5},
      {{1, 5, 3, 1}, 1.5, 1.0},  // N = 1
      {{3, 2, 1, 1}, 3.0, 5.0},  // H = W = 1
      {{2, 3, 2}, 1.0, 0.0},     // r = 1, d = 0: plain BatchNorm
  }));
  CAPTURE(shape, r_max, d_max);
  Rng rng{21};
  const std::int64_t C = shape[1];
  BatchRenorm brn(C, {.r_max = r_max, .d_max = d_max, .dtype = DType::f64});
  randomize(brn.weight(), rng);
  randomize(brn.bias(), rng, 0.0);
  for (std::int64_t c = 0; c < C; ++c) {
    brn.running_std().set({c}, c % 2 == 0 ? 0.01 : 100.0);     // r at r_max or at 1/r_max
    brn.running_mean().set({c}, c % 2 == 0 ? -50.0 : 1000.0);  // |d| ≥ 10 before clipping
  }
  auto f = [&, rm = r_max, dm = d_max](const std::vector<Variable>& in) {
    return batch_renorm_train(in[0], in[1], in[2], brn.running_mean(), brn.running_std(), rm, dm,
                              1e-5);
  };
  const GradcheckReport r =
      gradcheck(f, {randn_leaf(shape, rng), brn.weight(), brn.bias()}, tight());
  INFO(r.worst());
  REQUIRE(r.ok());
}

TEST_CASE("batch_renorm backward holds r and d constant as in the paper", "[batch_renorm]") {
  // Unclipped, the forward equals (x − μ)/σ exactly, but the paper's gradient flows through μ_B and
  // σ_B with r, d held constant (Ioffe 2017, Algorithm 1). Check it against the paper's formulas.
  Rng rng{22};
  const std::int64_t N = 5, C = 2;
  const double eps = 1e-5;
  const Tensor mu = Tensor::from_vector({C}, {0.2, -0.1}, DType::f64);
  const Tensor sigma = Tensor::from_vector({C}, {1.2, 0.9}, DType::f64);
  const Variable x = randn_leaf({N, C}, rng);
  const Variable gamma(Tensor::from_vector({C}, {1.5, 0.7}, DType::f64), true);
  const Variable beta(Tensor::zeros({C}, DType::f64), true);
  RenormStats stats;
  const Variable y = batch_renorm_train(x, gamma, beta, mu, sigma, 10.0, 10.0, eps, &stats);
  const Tensor dy = randn({N, C}, DType::f64, rng);
  y.backward(dy);
  for (std::int64_t c = 0; c < C; ++c) {
    const auto cc = static_cast<std::size_t>(c);
    const double mu_b = stats.mean[cc], sigma_b = stats.std[cc], r = stats.r[cc];
    REQUIRE(r == Approx(sigma_b / sigma.get({c})).epsilon(1e-12));
    double dsigma = 0.0, dmu = 0.0;  // ∂L/∂σ_B and ∂L/∂μ_B of the paper
    for (std::int64_t n = 0; n < N; ++n) {
      const double dxhat = dy.get({n, c}) * gamma.data().get({c});
      dsigma += dxhat * (x.data().get({n, c}) - mu_b) * (-r / (sigma_b * sigma_b));
      dmu += dxhat * (-r / sigma_b);
      REQUIRE(
          y.data().get({n, c}) ==
          Approx(gamma.data().get({c}) * (x.data().get({n, c}) - mu.get({c})) / sigma.get({c})));
    }
    for (std::int64_t n = 0; n < N; ++n) {
      const double dxhat = dy.get({n, c}) * gamma.data().get({c});
      const double want =
          dxhat * r / sigma_b + dsigma * (x.data().get({n, c}) - mu_b) / (N * sigma_b) + dmu / N;
      REQUIRE(x.grad().get({n, c}) == Approx(want).epsilon(1e-10).margin(1e-13));
    }
  }
}

TEST_CASE("batch_renorm keeps moving averages of mu and sigma and uses them in eval",
          "[batch_renorm]") {
  Rng rng{23};
  BatchRenorm brn(3, {.momentum = 0.5, .dtype = DType::f64});
  const Tensor x = randn({6, 3, 2}, DType::f64, rng, 1.0, 2.0);
  RenormStats stats;
  batch_renorm_train(Variable(x), {}, {}, brn.running_mean(), brn.running_std(), 3.0, 5.0, 1e-5,
                     &stats);
  brn.forward_no_grad(x);
  for (std::int64_t c = 0; c < 3; ++c) {
    const auto cc = static_cast<std::size_t>(c);
    REQUIRE(brn.running_mean().get({c}) == Approx(0.5 * stats.mean[cc]).epsilon(1e-12));
    REQUIRE(brn.running_std().get({c}) == Approx(0.5 + 0.5 * stats.std[cc]).epsilon(1e-12));
  }
  REQUIRE(brn.num_batches_tracked().item() == 1.0);
  brn.eval();
  const Variable xv(x.clone(), true);
  const Variable y = brn.forward(xv);
  const Tensor dy = randn(x.shape(), DType::f64, rng);
  y.backward(dy);
  for (std::int64_t c = 0; c < 3; ++c) {
    const double s = brn.running_std().get({c}), m = brn.running_mean().get({c});
    REQUIRE(y.data().get({1, c, 1}) == Approx((x.get({1, c, 1}) - m) / s).epsilon(1e-12));
    REQUIRE(xv.grad().get({2, c, 0}) == Approx(dy.get({2, c, 0}) / s).epsilon(1e-12));
  }
}

TEST_CASE("batch_renorm eval backward matches central differences", "[batch_renorm][gradcheck]") {
  Rng rng{24};
  BatchRenorm brn(3, {.dtype = DType::f64});
  randomize(brn.weight(), rng);
  fill_uniform_(brn.running_std(), rng, 0.5, 2.0);
  brn.eval();
  auto f = [&](const std::vector<Variable>& in) { return brn.forward(in[0]); };
  const GradcheckReport r =
      gradcheck(f, {randn_leaf({1, 3, 1, 1}, rng), brn.weight(), brn.bias()}, tight());
  INFO(r.worst());
  REQUIRE(r.ok());
}

TEST_CASE("batch_renorm rejects bad limits and single-value channels", "[batch_renorm][errors]") {
  REQUIRE_THROWS_AS(BatchRenorm(3, {.r_max = 0.5}), ValueError);
  REQUIRE_THROWS_AS(BatchRenorm(3, {.d_max = -1.0}), ValueError);
  BatchRenorm brn(3);
  REQUIRE_THROWS_WITH(brn.forward_no_grad(Tensor::ones({1, 3})),
                      Catch::Contains("more than 1 value"));
  REQUIRE_THROWS_AS(brn.set_limits(0.9, 1.0), ValueError);
  brn.set_limits(2.0, 1.0);
  REQUIRE(brn.options().r_max == 2.0);
  REQUIRE(brn.state_dict().count("running_std") == 1);
}
