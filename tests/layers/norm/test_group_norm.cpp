// GroupNorm: gradcheck over the degenerate shapes, G = 1 equals LayerNorm, G = C equals
// InstanceNorm, errors.
#include <catch2/catch.hpp>

#include "autograd/gradcheck.h"
#include "core/error.h"
#include "core/tensor_math.h"
#include "layers/norm/group_norm.h"
#include "layers/norm/instance_norm.h"
#include "layers/norm/layer_norm.h"
#include "tests/layers/norm/norm_test_util.h"

using namespace normlab;
using namespace normlab::test;

TEST_CASE("group_norm backward matches central differences", "[group_norm][gradcheck]") {
  const auto [N, C, G, HW, eps] = GENERATE(table<int, int, int, int, double>({
      {2, 4, 2, 9, 1e-5},   // two groups of two channels
      {1, 6, 3, 1, 1e-5},   // N = 1 and 1x1 spatial: the smallest sets, m = C/G = 2
      {3, 4, 4, 4, 1e-5},   // G == C: must equal InstanceNorm
      {2, 4, 1, 4, 1e-5},   // G == 1: must equal LayerNorm with per-channel affine
      {2, 6, 6, 1, 1e-5},   // groups of size 1 with 1x1 spatial: m = 1, x̂ = 0
      {2, 5, 5, 3, 1e-12},  // C not a power of two, small eps
      {2, 6, 2, 3, 1.0},    // large eps
  }));
  CAPTURE(N, C, G, HW, eps);
  Rng rng{20240601};
  GroupNorm gn(G, C, {.eps = eps, .dtype = DType::f64});
  randomize(gn.weight(), rng);
  randomize(gn.bias(), rng, 0.0);
  auto loss = [groups = G, e = eps](const std::vector<Variable>& in) {
    return group_norm(in[0], groups, in[1], in[2], e);
  };
  const GradcheckReport r =
      gradcheck(loss, {randn_leaf({N, C, HW, 1}, rng, 1.0, 3.0), gn.weight(), gn.bias()}, tight());
  INFO(r.worst());
  REQUIRE(r.ok());
}

TEST_CASE("group_norm module without affine matches central differences",
          "[group_norm][gradcheck]") {
  Rng rng{5};
  GroupNorm gn(3, 6, {.affine = false, .dtype = DType::f64});
  auto loss = [&](const std::vector<Variable>& in) { return gn.forward(in[0]); };
  const GradcheckReport r = gradcheck(loss, {randn_leaf({2, 6, 2, 2}, rng)}, tight());
  INFO(r.worst());
  REQUIRE(r.ok());
  REQUIRE(gn.parameters().empty());
}

TEST_CASE("group_norm with one group equals layer_norm over (C, H, W) with per-channel affine",
          "[group_norm][layer_norm]") {
  Rng rng{17};
  const std::int64_t N = 3, C = 5, H = 2, W = 3;
  GroupNorm gn(1, C, {.dtype = DType::f64});
  LayerNorm ln({C, H, W}, {.dtype = DType::f64});
  randomize(gn.weight(), rng);
  randomize(gn.bias(), rng, 0.0);
  ln.weight().data().copy_(gn.weight().data().view({C, 1, 1}).expand({C, H, W}));
  ln.bias().data().copy_(gn.bias().data().view({C, 1, 1}).expand({C, H, W}));
  const Tensor x = randn({N, C, H, W}, DType::f64, rng, 3.0, 2.0);
  const Tensor dy = randn({N, C, H, W}, DType::f64, rng);
  const Variable xg(x.clone(), true), xl(x.clone(), true);
  const Variable yg = gn.forward(xg), yl = ln.forward(xl);
  REQUIRE(max_abs_diff(yg.data(), yl.data()) < 1e-12);
  yg.backward(dy);
  yl.backward(dy);
  REQUIRE(max_abs_diff(xg.grad(), xl.grad()) < 1e-12);
  // dγ_c of GroupNorm is the sum of LayerNorm's elementwise dγ over (H, W).
  for (std::int64_t c = 0; c < C; ++c) {
    double want = 0.0;
    for (std::int64_t h = 0; h < H; ++h) {
      for (std::int64_t w = 0; w < W; ++w) {
        want += ln.weight().grad().get({c, h, w});
      }
    }
    REQUIRE(gn.weight().grad().get({c}) == Approx(want).epsilon(1e-12));
  }
}

TEST_CASE("group_norm with one channel per group equals instance_norm",
          "[group_norm][instance_norm]") {
  Rng rng{18};
  const std::int64_t N = 2, C = 3;
  GroupNorm gn(C, C, {.dtype = DType::f64});
  InstanceNorm2d in(C, {.affine = true, .dtype = DType::f64});
  randomize(gn.weight(), rng);
  randomize(gn.bias(), rng, 0.0);
  in.weight().data().copy_(gn.weight().data());
  in.bias().data().copy_(gn.bias().data());
  const Tensor x = randn({N, C, 3, 2}, DType::f64, rng, -1.0, 4.0);
  const Tensor dy = randn({N, C, 3, 2}, DType::f64, rng);
  const Variable xg(x.clone(), true), xi(x.clone(), true);
  const Variable yg = gn.forward(xg), yi = in.forward(xi);
  REQUIRE(max_abs_diff(yg.data(), yi.data()) < 1e-12);
  yg.backward(dy);
  yi.backward(dy);
  REQUIRE(max_abs_diff(xg.grad(), xi.grad()) < 1e-12);
  REQUIRE(max_abs_diff(gn.weight().grad(), in.weight().grad()) < 1e-12);
  REQUIRE(max_abs_diff(gn.bias().grad(), in.bias().grad()) < 1e-12);
}

TEST_CASE("group_norm forward_no_grad equals forward", "[group_norm]") {
  Rng rng{19};
  GroupNorm gn(2, 4);
  const Tensor x = randn({2, 4, 3, 3}, DType::f32, rng);
  REQUIRE(max_abs_diff(gn.forward_no_grad(x), gn.forward(Variable(x)).data()) == 0.0);
}

TEST_CASE("group_norm rejects channels not divisible by groups", "[group_norm][errors]") {
  REQUIRE_THROWS_AS(GroupNorm(4, 6), ShapeError);
  REQUIRE_THROWS_WITH(GroupNorm(4, 6), Catch::Contains("not divisible"));
  REQUIRE_THROWS_AS(GroupNorm(0, 6), ShapeError);
  GroupNorm gn(2, 4);
  REQUIRE_THROWS_WITH(gn.forward_no_grad(Tensor::ones({2, 6, 3})),
                      Catch::Contains("6 channels") && Catch::Contains("[2, 6, 3]"));
  REQUIRE_THROWS_WITH(
      group_norm(Variable(Tensor::ones({2, 6, 3})), 4, {}, {}, 1e-5),
      Catch::Contains("not divisible into 4 groups") && Catch::Contains("[2, 6, 3]"));
  REQUIRE(gn.to_string() == "GroupNorm(2, 4, eps=1e-05, affine=True)");
}
