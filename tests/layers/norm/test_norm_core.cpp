// The SetLayout core: statistics against a naive two-pass reference for every layout shape, and
// the OpenMP paths (above kParallelGrain) against the serial ones.
#include <catch2/catch.hpp>
#include <cmath>

#include "core/random.h"
#include "core/tensor_math.h"
#include "core/threads.h"
#include "layers/norm/batch_norm.h"
#include "layers/norm/group_norm.h"
#include "layers/norm/norm_core.h"

using namespace normlab;

TEST_CASE("norm_core set_mean_var matches a two-pass reference on every layout", "[norm_core]") {
  const auto [outer, sets, inner] = GENERATE(table<std::int64_t, std::int64_t, std::int64_t>({
      {4, 3, 5},  // BatchNorm-like
      {1, 6, 7},  // LayerNorm/InstanceNorm/GroupNorm-like
      {9, 2, 1},  // (N, C) BatchNorm: rows of one value, merged one by one
      {1, 1, 1},  // a single value
  }));
  CAPTURE(outer, sets, inner);
  Rng rng{111};
  const SetLayout L{outer, sets, inner};
  const Tensor x = randn({outer, sets, inner}, DType::f64, rng, 3.0, 2.0);
  std::vector<double> mean(static_cast<std::size_t>(sets)), var(mean.size());
  set_mean_var(x.data<double>().data(), L, mean.data(), var.data());
  for (std::int64_t s = 0; s < sets; ++s) {
    double mu = 0.0, sq = 0.0;
    for (std::int64_t a = 0; a < outer; ++a) {
      for (std::int64_t d = 0; d < inner; ++d) {
        mu += x.get({a, s, d});
      }
    }
    mu /= static_cast<double>(L.m());
    for (std::int64_t a = 0; a < outer; ++a) {
      for (std::int64_t d = 0; d < inner; ++d) {
        sq += (x.get({a, s, d}) - mu) * (x.get({a, s, d}) - mu);
      }
    }
    REQUIRE(mean[static_cast<std::size_t>(s)] == Approx(mu).epsilon(1e-14));
    REQUIRE(var[static_cast<std::size_t>(s)] ==
            Approx(sq / static_cast<double>(L.m())).epsilon(1e-12).margin(1e-15));
  }
}

TEST_CASE("norm_core parallel batch_norm and group_norm equal their serial slices", "[norm_core]") {
  // (8, 16, 32, 32) is above kParallelGrain; one channel (BN) or one sample (GN) is below it.
  const std::int64_t N = 8, C = 16, H = 32, W = 32;
  REQUIRE(N * C * H * W >= 2 * kParallelGrain);
  REQUIRE(N * H * W < kParallelGrain);
  REQUIRE(C * H * W < kParallelGrain);
  Rng rng{112};
  const Tensor x = randn({N, C, H, W}, DType::f64, rng, 1.0, 2.0);
  const Tensor dy = randn({N, C, H, W}, DType::f64, rng);

  const Variable xb(x.clone(), true);
  const Variable yb = batch_norm_train(xb, {}, {}, 1e-5);
  yb.backward(dy);
  for (std::int64_t c = 0; c < C; c += 5) {
    const Variable xc(x.narrow(1, c, 1).contiguous(), true);
    const Variable yc = batch_norm_train(xc, {}, {}, 1e-5);
    yc.backward(dy.narrow(1, c, 1).contiguous());
    REQUIRE(max_abs_diff(yc.data(), yb.data().narrow(1, c, 1)) < 1e-12);
    REQUIRE(max_abs_diff(xc.grad(), xb.grad().narrow(1, c, 1)) < 1e-12);
  }

  const Variable xg(x.clone(), true);
  const Variable yg = group_norm(xg, 4, {}, {}, 1e-5);
  yg.backward(dy);
  for (std::int64_t n = 0; n < N; n += 3) {
    const Variable xn(x.narrow(0, n, 1).contiguous(), true);
    const Variable yn = group_norm(xn, 4, {}, {}, 1e-5);
    yn.backward(dy.narrow(0, n, 1).contiguous());
    REQUIRE(max_abs_diff(yn.data(), yg.data().narrow(0, n, 1)) < 1e-12);
    REQUIRE(max_abs_diff(xn.grad(), xg.grad().narrow(0, n, 1)) < 1e-12);
  }
}
