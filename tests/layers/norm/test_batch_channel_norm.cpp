// Batch-Channel Normalization (labml's form): the estimated batch norm, the channel norm with its
// per-group affine, and their composition.
#include <algorithm>
#include <catch2/catch.hpp>

#include "autograd/gradcheck.h"
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
