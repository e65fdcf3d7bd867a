// Batch-Channel Normalization (labml's form): the estimated batch norm, the channel norm with its
// per-group affine, and their composition.
#include <algorithm>
#include <catch2/catch.hpp>

#include "autograd/gradcheck.h"
#include "autograd/node.h"
#include "core/error.h"
#include "core/tensor_math.h"
#include "layers/norm/batch_channel_norm.h"
#include "layers/norm/batch_norm.h"
#include "layers/norm/group_norm.h"
#include "layers/norm/norm_core.h"
#include "tests/layers/layer_test_helpers.h"
#include "tests/layers/norm/norm_test_util.h"

using namespace normlab;
using namespace normlab::test;

TEST_CASE("batch_channel_norm channel norm backward matches central differences",
          "[batch_channel_norm][gradcheck]") {
  const auto [N, C, G, HW] = GENERATE(table<int, int, int, int>({
      {2, 6, 3, 4},
      {1, 4, 1, 1},  // N = 1, 1x1 spatial, one group
      {2, 5, 5, 3},  // groups of size 1, C not a power of two
  }));
  CAPTURE(N, C, G, HW);
  Rng rng{31};
  ChannelNorm cn(C, G, {.dtype = DType::f64});
  randomize(cn.weight(), rng);
  randomize(cn.bias(), rng, 0.0);
  auto f = [&, groups = G](const std::vector<Variable>& in) {
    return group_norm(in[0], groups, in[1], in[2], 1e-5, GroupAffine::per_group);
  };
  const GradcheckReport r =
      gradcheck(f, {randn_leaf({N, C, HW}, rng, 2.0, 1.5), cn.weight(), cn.bias()}, tight());
  INFO(r.worst());
  REQUIRE(r.ok());
}

TEST_CASE("batch_channel_norm channel norm equals group norm with gamma shared in a group",
          "[batch_channel_norm]") {
  Rng rng{32};
  ChannelNorm cn(6, 2, {.dtype = DType::f64});
  GroupNorm gn(2, 6, {.dtype = DType::f64});
  cn.weight().data().copy_(Tensor::from_vector({2}, {1.5, -0.5}, DType::f64));
  cn.bias().data().copy_(Tensor::from_vector({2}, {0.25, 2.0}, DType::f64));
  gn.weight().data().copy_(Tensor::from_vector({6}, {1.5, 1.5, 1.5, -0.5, -0.5, -0.5}, DType::f64));
  gn.bias().data().copy_(Tensor::from_vector({6}, {0.25, 0.25, 0.25, 2.0, 2.0, 2.0}, DType::f64));
  const Tensor x = randn({3, 6, 2, 2}, DType::f64, rng);
  REQUIRE(max_abs_diff(cn.forward_no_grad(x), gn.forward_no_grad(x)) < 1e-12);
}

TEST_CASE("batch_channel_norm estimated batch norm moves its estimates, then normalizes with them",
          "[batch_channel_norm]") {
  Rng rng{33};
  EstimatedBatchNorm ebn(2, {.momentum = 0.5, .dtype = DType::f64});
  const Tensor x = randn({4, 2, 3}, DType::f64, rng, 3.0, 2.0);
  const Variable xv(x.clone(), true);
  const Variable y = ebn.forward(xv);
  for (std::int64_t c = 0; c < 2; ++c) {
    double mean = 0.0, var = 0.0;
    for (std::int64_t n = 0; n < 4; ++n) {
      for (std::int64_t l = 0; l < 3; ++l) {
        mean += x.get({n, c, l}) / 12.0;
      }
    }
    for (std::int64_t n = 0; n < 4; ++n) {
      for (std::int64_t l = 0; l < 3; ++l) {
        var += (x.get({n, c, l}) - mean) * (x.get({n, c, l}) - mean) / 12.0;  // biased
      }
    }
    const double mhat = 0.5 * mean, vhat = 0.5 + 0.5 * var;
    REQUIRE(ebn.running_mean().get({c}) == Approx(mhat).epsilon(1e-12));
    REQUIRE(ebn.running_var().get({c}) == Approx(vhat).epsilon(1e-12));
    REQUIRE(y.data().get({1, c, 2}) ==
            Approx((x.get({1, c, 2}) - mhat) / std::sqrt(vhat + 1e-5)).epsilon(1e-12));
  }
  // The estimates are constants in backward: dx = γ·rstd̂·dy.
  const Tensor dy = randn(x.shape(), DType::f64, rng);
  y.backward(dy);
  const double rstd0 = 1.0 / std::sqrt(ebn.running_var().get({0}) + 1e-5);
  REQUIRE(xv.grad().get({3, 0, 1}) == Approx(rstd0 * dy.get({3, 0, 1})).epsilon(1e-12));
}

TEST_CASE("batch_channel_norm estimated batch norm in float32 normalizes with its float32 buffers",
          "[batch_channel_norm]") {
  // Training computes the estimates inside the forward kernel; they must be the values the
  // float32 buffers then hold, to the bit: y equals the eval-mode normalization with the buffers.
  Rng rng{34};
  EstimatedBatchNorm ebn(5, {.momentum = 0.3, .dtype = DType::f32});
  const Tensor x = randn({6, 5, 7, 3}, DType::f32, rng, 2.5, 1.7);
  const Variable y = ebn.forward(Variable(x));
  const Variable expected = batch_norm_with_constants(
      Variable(x), to_doubles(ebn.running_mean()),
      rstd_from_var(to_doubles(ebn.running_var()), 1e-5), ebn.weight(), ebn.bias());
  const auto a = y.data().data<float>(), b = expected.data().data<float>();
  REQUIRE(a.size() == b.size());
  CHECK(std::equal(a.begin(), a.end(), b.begin()));
}

TEST_CASE("batch_channel_norm backward matches central differences in eval mode",
          "[batch_channel_norm][gradcheck]") {
  const bool estimate = GENERATE(true, false);
  CAPTURE(estimate);
  Rng rng{34};
  BatchChannelNorm bcn(6, 3, {.estimate = estimate, .dtype = DType::f64});
  bcn.forward_no_grad(
      randn({4, 6, 2, 2}, DType::f64, rng, 1.0, 2.0));  // move the running statistics
  bcn.eval();
  for (Variable* p : bcn.parameters()) {
    randomize(*p, rng);
  }
  require_module_gradcheck(bcn, randn_leaf({2, 6, 2, 2}, rng));
}

TEST_CASE("batch_channel_norm without estimates matches central differences in training",
          "[batch_channel_norm][gradcheck]") {
  Rng rng{35};
  BatchChannelNorm bcn(4, 2, {.estimate = false, .dtype = DType::f64});
  for (Variable* p : bcn.parameters()) {
    randomize(*p, rng);
  }
  require_module_gradcheck(bcn, randn_leaf({3, 4, 2}, rng));
}

namespace {

EstimatedBatchNorm& estimated(BatchChannelNorm& bcn) {
  return static_cast<EstimatedBatchNorm&>(bcn.batch_norm());
}

// Random γ1, β1, γ_g, β_g and estimates μ̂ ~ N(0.5, 1), σ̂² in [0.5, 2.5).
void randomize_state(BatchChannelNorm& bcn, Rng& rng) {
  for (Variable* p : bcn.parameters()) {
    randomize(*p, rng);
  }
  EstimatedBatchNorm& bn = estimated(bcn);
  fill_normal_(bn.running_mean(), rng, 0.5, 1.0);
  fill_uniform_(bn.running_var(), rng, 0.5, 2.5);
}

// Copies the parameters and estimates of `from` into `to` (converted to its dtype).
void copy_state(BatchChannelNorm& from, BatchChannelNorm& to) {
  std::vector<Variable*> a = from.parameters(), b = to.parameters();
  for (std::size_t i = 0; i < a.size(); ++i) {
    b[i]->data().copy_(a[i]->data().to(b[i]->dtype()));
  }
  for (auto get : {&EstimatedBatchNorm::running_mean, &EstimatedBatchNorm::running_var}) {
    Tensor& t = (estimated(to).*get)();
    t.copy_((estimated(from).*get)().to(t.dtype()));
  }
}

}  // namespace

TEST_CASE("batch_channel_norm fused training equals its two children in sequence",
          "[batch_channel_norm]") {
  // Training with estimates runs one fused op (eq. BCN10–BCN15); the children's own ops, chained,
  // are the reference: y, dx, the four parameter gradients and the moved estimates.
  const auto [N, C, G, L] = GENERATE(table<int, int, int, int>({
      {3, 6, 3, 5},
      {1, 4, 1, 1},  // N = 1, one value per (n, c), one group
      {2, 5, 5, 3},  // groups of one channel
      {4, 8, 2, 7},
  }));
  CAPTURE(N, C, G, L);
  Rng rng{36};
  BatchChannelNorm bcn(C, G, {.momentum = 0.3, .dtype = DType::f64});
  randomize_state(bcn, rng);
  BatchChannelNorm parts(C, G, {.momentum = 0.3, .dtype = DType::f64});
  copy_state(bcn, parts);
  const Tensor x = randn({N, C, L}, DType::f64, rng, 2.0, 1.5);
  const Tensor dy = randn(x.shape(), DType::f64, rng);
  const Variable x1(x.clone(), true), x2(x.clone(), true);
  const Variable y1 = bcn.forward(x1);
  REQUIRE(y1.grad_fn()->name() == "batch_channel_norm");  // the fused op ran
  const Variable y2 = parts.channel_norm().forward(parts.batch_norm().forward(x2));
  require_close(y1.data(), y2.data(), 1e-13, "y");
  y1.backward(dy);
  y2.backward(dy);
  require_close(x1.grad(), x2.grad(), 1e-12, "dx");
  std::vector<Variable*> a = bcn.parameters(), b = parts.parameters();
  for (std::size_t i = 0; i < a.size(); ++i) {
    require_close(a[i]->grad(), b[i]->grad(), 1e-12, "parameter gradient " + std::to_string(i));
  }
  require_close(estimated(bcn).running_mean(), estimated(parts).running_mean(), 1e-14, "μ̂");
  require_close(estimated(bcn).running_var(), estimated(parts).running_var(), 1e-14, "σ̂²");
  // forward_no_grad in training takes the same path and moves the estimates again, alike
  require_close(bcn.forward_no_grad(x),
                parts.channel_norm().forward_no_grad(parts.batch_norm().forward_no_grad(x)), 1e-13,
                "forward_no_grad");
  require_close(estimated(bcn).running_var(), estimated(parts).running_var(), 1e-14, "σ̂² again");
}

TEST_CASE("batch_channel_norm fused training matches central differences with fixed estimates",
          "[batch_channel_norm][gradcheck]") {
  // With momentum 0 the estimates stay what they are, so they are constants in fact and not only
  // for the gradient: the fused backward must then be the exact derivative, in x and in γ1, β1,
  // γ_g, β_g. The channel norm's statistics depend on x; the estimates' offsets f_nc = μ_nc − μ̂_c
  // and the group means e_nc are all nonzero.
  const auto [N, C, G, L] = GENERATE(table<int, int, int, int>({
      {2, 6, 3, 4},
      {1, 4, 2, 1},
      {3, 5, 5, 2},
  }));
  CAPTURE(N, C, G, L);
  Rng rng{37};
  BatchChannelNorm bcn(C, G, {.momentum = 0.0, .dtype = DType::f64});
  randomize_state(bcn, rng);
  require_module_gradcheck(bcn, randn_leaf({N, C, L}, rng, 1.0, 2.0));
}

TEST_CASE("batch_channel_norm fused float32 stays within 1e-6 of float64, also at mean 1e4",
          "[batch_channel_norm]") {
  const double mean = GENERATE(0.0, 1e4);
  CAPTURE(mean);
  // Momentum 0 keeps μ̂ = 1e4 as it is: a moved μ̂ would be rounded to the float32 buffer (by up
  // to 5e-4 at 1e4, in the composition too), which is the buffers' precision, not the kernels'.
  Rng rng{38};
  BatchChannelNorm ref(16, 4, {.momentum = 0.0, .dtype = DType::f64});
  randomize_state(ref, rng);
  estimated(ref).running_mean().fill_(mean);
  BatchChannelNorm f32(16, 4, {.momentum = 0.0, .dtype = DType::f32});
  copy_state(ref, f32);
  const Tensor x = randn({4, 16, 9, 9}, DType::f64, rng, mean, 3.0).to(DType::f32);
  const Tensor dy = randn(x.shape(), DType::f64, rng).to(DType::f32);
  const Variable x64(x.to(DType::f64), true), x32(x.clone(), true);
  const Variable y64 = ref.forward(x64), y32 = f32.forward(x32);
  y64.backward(dy.to(DType::f64));
  y32.backward(dy);
  auto within = [](const Tensor& a, const Tensor& b, const char* what) {
    INFO(what << ": max |a - b| = " << max_abs_diff(a.to(DType::f64), b) << ", max |b| "
              << max_abs(b));
    REQUIRE(max_abs_diff(a.to(DType::f64), b) <= 1e-6 * max_abs(b));
  };
  within(y32.data(), y64.data(), "y");
  within(x32.grad(), x64.grad(), "dx");
  std::vector<Variable*> a = f32.parameters(), b = ref.parameters();
  for (std::size_t i = 0; i < a.size(); ++i) {
    within(a[i]->grad(), b[i]->grad(), "parameter gradient");
  }
}

TEST_CASE("batch_channel_norm has labml's structure and rejects bad groups",
          "[batch_channel_norm][errors]") {
  BatchChannelNorm bcn(8, 4);
  const StateDict state = bcn.state_dict();
  for (const char* name : {"batch_norm.weight", "batch_norm.bias", "batch_norm.running_mean",
                           "batch_norm.running_var", "channel_norm.weight", "channel_norm.bias"}) {
    REQUIRE(state.count(name) == 1);
  }
  REQUIRE(state.at("channel_norm.weight").shape() == Shape{4});
  REQUIRE(bcn.batch_norm().type_name() == "EstimatedBatchNorm");
  REQUIRE_THROWS_AS(BatchChannelNorm(6, 4), ShapeError);
  REQUIRE_THROWS_WITH(bcn.forward_no_grad(Tensor::ones({2, 6, 3})), Catch::Contains("6 channels"));
}
