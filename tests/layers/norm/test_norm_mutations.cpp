// [meta] mutation tests on the real normalization kernels (layers/norm/norm_core.h): GroupNorm's
// and BatchNorm's backward recomposed in the test from set_mean_var, set_normalize_forward,
// set_affine_forward, set_sums, set_scale and set_normalize_backward, once as the layers compose
// them and once with a deliberate mistake:
//   GroupNorm  dγ reduced over the group layout (1, N·G, (C/G)·HW) instead of the channel layout
//              (N, C, HW); with N·G = C the mutant's dγ has the right size, only wrong values
//   BatchNorm  the mean term −Σ_j g_j of eq. D4 dropped
// The right composition must equal the real layer (group_norm, batch_norm_train) and pass
// gradcheck; each mutant must fail gradcheck, in the input its mistake touches and only there.
#include <catch2/catch.hpp>

#include "autograd/node.h"
#include "core/tensor_math.h"
#include "layers/norm/batch_norm.h"
#include "layers/norm/group_norm.h"
#include "layers/norm/norm_core.h"
#include "tests/layers/norm/norm_test_util.h"

using namespace normlab;
using namespace normlab::test;

namespace {

enum class Mutation { none, gamma_over_groups, mean_term_dropped };

constexpr double kEps = 1e-5;

// y = γ_c · x̂ + β_c with x̂ normalized over the sets of L (x: (N, C, H, W), float64).
struct ComposedNormNode final : Node {
  Tensor xhat, gamma;
  std::vector<double> rstd;
  SetLayout L{}, affine{};
  Mutation mutation = Mutation::none;

  std::vector<Tensor> backward(const Tensor& dy_in) override {
    const Tensor dy = dy_in.contiguous();
    const std::int64_t C = gamma.numel();
    const double* dyp = dy.data<double>().data();
    const double* xh = xhat.data<double>().data();
    // step 1  dβ_c = Σ dy,  dγ_c = Σ dy·x̂ over the channel's elements (eq. D5)
    std::vector<double> sum_dy(static_cast<std::size_t>(C)), sum_dy_xhat(sum_dy.size());
    set_sums(dyp, xh, affine, sum_dy.data(), sum_dy_xhat.data());
    if (mutation == Mutation::gamma_over_groups) {  // dγ from the sets of x̂ instead
      std::vector<double> unused(static_cast<std::size_t>(L.sets));
      sum_dy_xhat.resize(unused.size());
      set_sums(dyp, xh, L, unused.data(), sum_dy_xhat.data());
    }
    Tensor dgamma = Tensor::empty({C}, DType::f64), dbeta = Tensor::empty({C}, DType::f64);
    for (std::int64_t c = 0; c < C; ++c) {
      dgamma.set({c}, sum_dy_xhat[static_cast<std::size_t>(c)]);
      dbeta.set({c}, sum_dy[static_cast<std::size_t>(c)]);
    }
    // step 2  g = γ_c · dy
    Tensor g = Tensor::empty(dy.shape(), DType::f64);
    set_scale(dyp, gamma.data<double>().data(), affine, g.data<double>().data());
    // step 3  dx through μ and σ of each set (eq. D4)
    Tensor dx = Tensor::empty(dy.shape(), DType::f64);
    double* dxp = dx.data<double>().data();
    const double* gp = g.data<double>().data();
    if (mutation != Mutation::mean_term_dropped) {
      set_normalize_backward(gp, xh, rstd.data(), L, dxp);
    } else {  // dx = rstd/m · (m·g − x̂·Σ g·x̂), without −Σ g
      std::vector<double> sum_g(static_cast<std::size_t>(L.sets)), sum_gx(sum_g.size());
      set_sums(gp, xh, L, sum_g.data(), sum_gx.data());
      const auto m = static_cast<double>(L.m());
      for (std::int64_t a = 0; a < L.outer; ++a) {
        for (std::int64_t s = 0; s < L.sets; ++s) {
          const auto k = static_cast<std::size_t>(s);
          for (std::int64_t d = 0; d < L.inner; ++d) {
            const std::int64_t i = (a * L.sets + s) * L.inner + d;
            dxp[i] = rstd[k] / m * (m * gp[i] - xh[i] * sum_gx[k]);
          }
        }
      }
    }
    return {dx, dgamma, dbeta};
  }
  std::string_view name() const override { return "composed_norm"; }
};

// The forward of GroupNorm (groups > 0) or training-mode BatchNorm (groups = 0) from the kernels.
Variable composed_norm(const Variable& x, const Variable& gamma, const Variable& beta,
                       std::int64_t groups, Mutation mutation) {
  const Tensor xc = x.data().contiguous();
  const Shape& s = xc.shape();
  const std::int64_t N = s[0], C = s[1], HW = xc.numel() / (N * C);
  auto node = std::make_shared<ComposedNormNode>();
  node->affine = channel_layout(s);
  node->L = groups > 0 ? SetLayout{1, N * groups, (C / groups) * HW} : node->affine;
  std::vector<double> mean(static_cast<std::size_t>(node->L.sets)), var(mean.size());
  set_mean_var(xc.data<double>().data(), node->L, mean.data(), var.data());
  node->rstd = rstd_from_var(var, kEps);
  node->xhat = Tensor::empty(s, DType::f64);
  set_normalize_forward(xc.data<double>().data(), mean.data(), node->rstd.data(), node->L,
                        node->xhat.data<double>().data());
  Tensor y = Tensor::empty(s, DType::f64);
  set_affine_forward(node->xhat.data<double>().data(), gamma.data().data<double>().data(),
                     beta.data().data<double>().data(), node->affine, y.data<double>().data());
  node->gamma = gamma.data().contiguous();
  node->mutation = mutation;
  return make_output(y, node, {x, gamma, beta});
}

struct Inputs {
  Variable x, gamma, beta;
};

Inputs make_inputs(const Shape& shape, std::uint64_t seed) {
  Rng rng(seed);
  return {randn_leaf(shape, rng, 0.5, 2.0), randn_leaf({shape[1]}, rng, 1.0, 0.5),
          randn_leaf({shape[1]}, rng, 0.0, 0.5)};
}

// The composition without mutation against the real layer: same y, same dx, dγ, dβ.
void require_equals_layer(const Inputs& in, const Variable& composed, const Variable& real) {
  Rng rng(9);
  const Tensor dy = randn(real.shape(), DType::f64, rng);
  REQUIRE(max_abs_diff(composed.data(), real.data()) < 1e-12);
  composed.backward(dy);
  const Tensor dx = in.x.grad().clone(), dgamma = in.gamma.grad().clone();
  const Tensor dbeta = in.beta.grad().clone();
  for (Variable v : {in.x, in.gamma, in.beta}) {
    v.zero_grad();
  }
  real.backward(dy);
  REQUIRE(max_abs_diff(dx, in.x.grad()) < 1e-12);
  REQUIRE(max_abs_diff(dgamma, in.gamma.grad()) < 1e-12);
  REQUIRE(max_abs_diff(dbeta, in.beta.grad()) < 1e-12);
}

// gradcheck passes without the mutation; with it, fails with every mismatch in input `wrong`.
void require_mutant_fails(const Inputs& in, std::int64_t groups, Mutation mutation,
                          std::size_t wrong) {
  const auto with = [groups](Mutation m) {
    return [groups, m](const std::vector<Variable>& v) {
      return composed_norm(v[0], v[1], v[2], groups, m);
    };
  };
  const std::vector<Variable> inputs{in.x, in.gamma, in.beta};
  const GradcheckReport right = gradcheck(with(Mutation::none), inputs, tight());
  INFO(right.worst());
  REQUIRE(right.ok());
  const GradcheckReport mutant = gradcheck(with(mutation), inputs, tight());
  INFO(mutant.worst());
  REQUIRE_FALSE(mutant.ok());
  for (const GradcheckMismatch& m : mutant.mismatches) {
    REQUIRE(m.input == wrong);
  }
}

}  // namespace

TEST_CASE("group_norm: dgamma reduced over the group layout fails gradcheck",
          "[group_norm][gradcheck][meta]") {
  // N = 2, C = 4, G = 2: N·G = C, so the mutant's per-(n, g) sums fill a dγ of the right size.
  const Inputs in = make_inputs({2, 4, 3, 3}, 201);
  require_equals_layer(in, composed_norm(in.x, in.gamma, in.beta, 2, Mutation::none),
                       group_norm(in.x, 2, in.gamma, in.beta, kEps));
  require_mutant_fails(in, 2, Mutation::gamma_over_groups, 1);
}

TEST_CASE("batch_norm: the mean term dropped from the backward fails gradcheck",
          "[batch_norm][gradcheck][meta]") {
  const Inputs in = make_inputs({3, 2, 2, 3}, 202);  // mean 0.5: Σ g over a set is not 0
  require_equals_layer(in, composed_norm(in.x, in.gamma, in.beta, 0, Mutation::none),
                       batch_norm_train(in.x, in.gamma, in.beta, kEps));
  require_mutant_fails(in, 0, Mutation::mean_term_dropped, 0);
}
