// [meta] tests of the tester: gradcheck must catch a norm backward with the mean term of eq. D4
// dropped, and the Σy objective that gradcheck avoids must be shown blind to it.
#include <catch2/catch.hpp>

#include "autograd/gradcheck.h"
#include "autograd/node.h"
#include "autograd/ops.h"
#include "layers/norm/norm_core.h"
#include "tests/layers/norm/norm_test_util.h"

using namespace normlab;
using namespace normlab::test;

namespace {

enum class Backward { correct, mean_term_dropped, zeros };

// Layer normalization over the last dimension (layout (1, S, D)) with a selectable backward.
struct TestNormNode final : Node {
  Tensor xhat;
  std::vector<double> rstd;
  SetLayout L;
  Backward kind = Backward::correct;

  std::vector<Tensor> backward(const Tensor& dy_in) override {
    const Tensor g = dy_in.contiguous();
    Tensor dx = Tensor::zeros(xhat.shape(), DType::f64);
    const double* gp = g.data<double>().data();
    const double* xh = xhat.data<double>().data();
    double* out = dx.data<double>().data();
    if (kind == Backward::correct) {
      set_normalize_backward(gp, xh, rstd.data(), L, out);
    } else if (kind == Backward::mean_term_dropped) {
      // eq. D4 without −Σg: dx = rstd/m · (m·g − x̂·Σ g·x̂)
      std::vector<double> sum_g(static_cast<std::size_t>(L.sets)), sum_gx(sum_g.size());
      set_sums(gp, xh, L, sum_g.data(), sum_gx.data());
      for (std::int64_t s = 0; s < L.sets; ++s) {
        const auto k = static_cast<std::size_t>(s);
        for (std::int64_t d = 0; d < L.inner; ++d) {
          const std::int64_t i = s * L.inner + d;
          out[i] = rstd[k] / static_cast<double>(L.m()) *
                   (static_cast<double>(L.m()) * gp[i] - xh[i] * sum_gx[k]);
        }
      }
    }
    return {dx};
  }
  std::string_view name() const override { return "test_norm"; }
};

Variable test_norm(const Variable& x, Backward kind) {
  const Tensor xc = x.data().contiguous();
  const SetLayout L{1, xc.dim(0), xc.dim(1)};
  std::vector<double> mean(static_cast<std::size_t>(L.sets)), var(mean.size());
  set_mean_var(xc.data<double>().data(), L, mean.data(), var.data());
  std::vector<double> rstd = rstd_from_var(var, 1e-5);
  Tensor xhat = Tensor::empty(xc.shape(), DType::f64);
  set_normalize_forward(xc.data<double>().data(), mean.data(), rstd.data(), L,
                        xhat.data<double>().data());
  auto node = std::make_shared<TestNormNode>();
  node->xhat = xhat;
  node->rstd = std::move(rstd);
  node->L = L;
  node->kind = kind;
  return make_output(xhat, node, {x});
}

}  // namespace

TEST_CASE("norm gradcheck fails for a backward with the mean term dropped", "[meta][gradcheck]") {
  Rng rng{101};
  const Variable x = randn_leaf({3, 5}, rng, 2.0, 1.0);
  auto with = [](Backward kind) {
    return [kind](const std::vector<Variable>& in) { return test_norm(in[0], kind); };
  };
  const GradcheckReport good = gradcheck(with(Backward::correct), {x}, tight());
  INFO(good.worst());
  REQUIRE(good.ok());
  const GradcheckReport bad = gradcheck(with(Backward::mean_term_dropped), {x}, tight());
  INFO(bad.worst());
  REQUIRE_FALSE(bad.ok());
  REQUIRE(bad.mismatches.size() > 5);
}

TEST_CASE("norm gradcheck with the sum of outputs is blind: a zero backward passes it",
          "[meta][gradcheck]") {
  // Σ_k x̂_k = 0 for every x, so ∂(Σ y)/∂x = 0 and a backward returning zeros agrees with the
  // finite differences. This is why gradcheck weights the output with a random w (STYLE.md 3.7).
  Rng rng{102};
  const Variable x = randn_leaf({2, 4}, rng);
  auto blind = [](const std::vector<Variable>& in) {
    return sum(test_norm(in[0], Backward::zeros));
  };
  REQUIRE(gradcheck(blind, {x}, tight()).ok());
  auto projected = [](const std::vector<Variable>& in) {
    return test_norm(in[0], Backward::zeros);
  };
  REQUIRE_FALSE(gradcheck(projected, {x}, tight()).ok());
}
