// The family's fused kernels (layers/norm/set_norm_kernels.h) against each layer's readable
// reference backward (<layer>_backward_reference, the labelled steps of docs/normalization/), in
// float64 to round-off; float32 against float64 within 1e-6 of max|ref|, also for inputs with
// mean 1e4; and the error paths of the shared wrapper.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/random.h"
#include "core/threads.h"
#include "layers/norm/batch_channel_norm.h"
#include "layers/norm/batch_norm.h"
#include "layers/norm/batch_renorm.h"
#include "layers/norm/group_norm.h"
#include "layers/norm/instance_norm.h"
#include "layers/norm/layer_norm.h"
#include "layers/norm/rms_norm.h"
#include "layers/norm/set_norm.h"

using namespace normlab;

namespace {

// max |a − b| / max(1, max|b|), with NaN anywhere giving NaN (so `<= tol` fails).
double relative_error(const Tensor& a, const Tensor& b) {
  const Tensor ad = a.to(DType::f64).contiguous(), bd = b.to(DType::f64).contiguous();
  REQUIRE(ad.shape() == bd.shape());
  double worst = 0.0, scale = 1.0;
  const auto av = ad.data<double>(), bv = bd.data<double>();
  for (std::size_t i = 0; i < av.size(); ++i) {
    const double diff = std::abs(av[i] - bv[i]);
    if (std::isnan(diff)) {
      return std::numeric_limits<double>::quiet_NaN();
    }
    worst = std::max(worst, diff);
    scale = std::max(scale, std::abs(bv[i]));
  }
  return worst / scale;
}

struct Case {
  std::string name;
  Shape shape;
  Shape param_shape;  // empty: no affine
  std::function<Variable(const Variable&, const Variable&, const Variable&)> forward;
  std::function<NormGrads(const Tensor&, const Tensor&, const Tensor&)> reference;
};

constexpr double kEps = 1e-5;

std::vector<Case> cases() {
  const auto batch_norm_forward = [](const Variable& x, const Variable& w, const Variable& b) {
    return batch_norm_train(x, w, b, kEps);
  };
  const auto batch_norm_reference = [](const Tensor& x, const Tensor& dy, const Tensor& g) {
    return batch_norm_backward_reference(x, dy, g, kEps);
  };
  return {
      {"group_norm G=4",
       {2, 8, 3, 5},
       {8},
       [](const Variable& x, const Variable& w, const Variable& b) {
         return group_norm(x, 4, w, b, kEps);
       },
       [](const Tensor& x, const Tensor& dy, const Tensor& g) {
         return group_norm_backward_reference(x, dy, 4, g, kEps);
       }},
      {"group_norm G=1 (LN with per-channel affine), 1x1 maps",
       {3, 6, 1, 1},
       {6},
       [](const Variable& x, const Variable& w, const Variable& b) {
         return group_norm(x, 1, w, b, kEps);
       },
       [](const Tensor& x, const Tensor& dy, const Tensor& g) {
         return group_norm_backward_reference(x, dy, 1, g, kEps);
       }},
      {"group_norm without affine",
       {2, 6, 4},
       {},
       [](const Variable& x, const Variable& w, const Variable& b) {
         return group_norm(x, 3, w, b, kEps);
       },
       [](const Tensor& x, const Tensor& dy, const Tensor& g) {
         return group_norm_backward_reference(x, dy, 3, g, kEps);
       }},
      {"batch_norm 4-D", {4, 3, 5, 2}, {3}, batch_norm_forward, batch_norm_reference},
      {"batch_norm, 2 MiB of float32 and more: swept by rows in memory order",
       {4, 8, 128, 128},
       {8},
       batch_norm_forward,
       batch_norm_reference},
      {"batch_norm 2-D (N, C)", {5, 7}, {7}, batch_norm_forward, batch_norm_reference},
      {"instance_norm",
       {2, 3, 4, 3},
       {3},
       [](const Variable& x, const Variable& w, const Variable& b) {
         return instance_norm(x, w, b, kEps);
       },
       [](const Tensor& x, const Tensor& dy, const Tensor& g) {
         return instance_norm_backward_reference(x, dy, g, kEps);
       }},
      {"layer_norm over (C, H, W)",
       {3, 4, 2, 5},
       {4, 2, 5},
       [](const Variable& x, const Variable& w, const Variable& b) {
         return layer_norm(x, {4, 2, 5}, w, b, kEps);
       },
       [](const Tensor& x, const Tensor& dy, const Tensor& g) {
         return layer_norm_backward_reference(x, dy, {4, 2, 5}, g, kEps);
       }},
      {"layer_norm over the last dim, long rows",
       {3, 5000},
       {5000},
       [](const Variable& x, const Variable& w, const Variable& b) {
         return layer_norm(x, {5000}, w, b, kEps);
       },
       [](const Tensor& x, const Tensor& dy, const Tensor& g) {
         return layer_norm_backward_reference(x, dy, {5000}, g, kEps);
       }},
      // The per-position backward takes rows in groups of about 1 MiB of x and dy: 8 rows of
      // 8192 doubles, so 20 rows make groups of 8, 8 and 4 (float32: 16 and 4).
      {"layer_norm over (C, H, W), rows in several groups",
       {20, 8, 32, 32},
       {8, 32, 32},
       [](const Variable& x, const Variable& w, const Variable& b) {
         return layer_norm(x, {8, 32, 32}, w, b, kEps);
       },
       [](const Tensor& x, const Tensor& dy, const Tensor& g) {
         return layer_norm_backward_reference(x, dy, {8, 32, 32}, g, kEps);
       }},
      {"layer_norm without affine, rows in several groups",
       {20, 8192},
       {},
       [](const Variable& x, const Variable& w, const Variable& b) {
         return layer_norm(x, {8192}, w, b, kEps);
       },
       [](const Tensor& x, const Tensor& dy, const Tensor& g) {
         return layer_norm_backward_reference(x, dy, {8192}, g, kEps);
       }},
      {"channel_norm",
       {2, 6, 3, 3},
       {3},
       [](const Variable& x, const Variable& w, const Variable& b) {
         return group_norm(x, 3, w, b, kEps, GroupAffine::per_group);
       },
       [](const Tensor& x, const Tensor& dy, const Tensor& g) {
         return channel_norm_backward_reference(x, dy, 3, g, kEps);
       }},
  };
}

// The float64 tensors `run` returns on 1 and on 2 threads must be equal bit for bit (the thread
// count is restored afterwards).
void check_same_bits_on_1_and_2_threads(const std::function<std::vector<Tensor>()>& run) {
  const int threads_before = num_threads();
  set_num_threads(1);
  const std::vector<Tensor> one = run();
  set_num_threads(2);
  const std::vector<Tensor> two = run();
  set_num_threads(threads_before);
  REQUIRE(one.size() == two.size());
  for (std::size_t i = 0; i < one.size(); ++i) {
    CAPTURE(i);
    const auto a = one[i].data<double>(), c = two[i].data<double>();
    REQUIRE(a.size() == c.size());
    CHECK(std::equal(a.begin(), a.end(), c.begin()));
  }
}

Variable param(const Shape& shape, Rng& rng) {
  return shape.empty() ? Variable() : Variable(randn(shape, DType::f64, rng, 1.0, 0.5), true);
}

}  // namespace

TEST_CASE("fused set-norm kernels equal each layer's reference backward in float64",
          "[set_norm][group_norm][batch_norm][instance_norm][layer_norm][channel_norm]") {
  for (const Case& c : cases()) {
    CAPTURE(c.name);
    Rng rng{515};
    Variable x(randn(c.shape, DType::f64, rng, 3.0, 2.0), true);
    Variable w = param(c.param_shape, rng), b = param(c.param_shape, rng);
    const Tensor dy = randn(c.shape, DType::f64, rng);
    c.forward(x, w, b).backward(dy);
    const NormGrads ref = c.reference(x.data(), dy, w.defined() ? w.data() : Tensor());
    CHECK(relative_error(x.grad(), ref.dx) < 1e-12);
    if (w.defined()) {
      CHECK(relative_error(w.grad(), ref.dgamma.view(c.param_shape)) < 1e-12);
      CHECK(relative_error(b.grad(), ref.dbeta.view(c.param_shape)) < 1e-12);
    }
  }
}

TEST_CASE("fused kernels equal the references for RMSNorm and batch renormalization",
          "[set_norm][rms_norm][batch_renorm]") {
  Rng rng{616};
  SECTION("rms_norm") {
    Variable x(randn({4, 3, 6}, DType::f64, rng, 0.5, 2.0), true);
    Variable w = param({3, 6}, rng);
    const Tensor dy = randn({4, 3, 6}, DType::f64, rng);
    rms_norm(x, {3, 6}, w, 1e-6).backward(dy);
    const NormGrads ref = rms_norm_backward_reference(x.data(), dy, {3, 6}, w.data(), 1e-6);
    CHECK(relative_error(x.grad(), ref.dx) < 1e-12);
    CHECK(relative_error(w.grad(), ref.dgamma.view({3, 6})) < 1e-12);
    CHECK_FALSE(ref.dbeta.defined());
  }
  SECTION("rms_norm, rows in several groups of the backward") {
    Variable x(randn({20, 8192}, DType::f64, rng, 0.5, 2.0), true);
    Variable w = param({8192}, rng);
    const Tensor dy = randn({20, 8192}, DType::f64, rng);
    rms_norm(x, {8192}, w, 1e-6).backward(dy);
    const NormGrads ref = rms_norm_backward_reference(x.data(), dy, {8192}, w.data(), 1e-6);
    CHECK(relative_error(x.grad(), ref.dx) < 1e-12);
    CHECK(relative_error(w.grad(), ref.dgamma.view({8192})) < 1e-12);
  }
  // (6, 3, 2, 2) is swept set by set, (6, 3, 128, 128), 2.25 MiB of float64, by rows
  // (set_norm_kernels.cpp)
  SECTION("batch_renorm with r and d away from 1 and 0") {
    for (const Shape& shape : {Shape{6, 3, 2, 2}, Shape{6, 3, 128, 128}}) {
      CAPTURE(shape);
      Variable x(randn(shape, DType::f64, rng, 1.0, 2.0), true);
      Variable w = param({3}, rng), b = param({3}, rng);
      const Tensor running_mean = randn({3}, DType::f64, rng, 0.5, 0.2);
      const Tensor running_std = rand_uniform({3}, DType::f64, rng, 1.5, 2.5);
      const Tensor dy = randn(shape, DType::f64, rng);
      RenormStats stats;
      batch_renorm_train(x, w, b, running_mean, running_std, 3.0, 5.0, kEps, &stats).backward(dy);
      REQUIRE(std::abs(stats.r[0] - 1.0) > 0.05);
      REQUIRE(std::abs(stats.d[0]) > 0.05);
      const NormGrads ref =
          batch_renorm_backward_reference(x.data(), dy, w.data(), stats.r, stats.d, kEps);
      CHECK(relative_error(x.grad(), ref.dx) < 1e-12);
      CHECK(relative_error(w.grad(), ref.dgamma) < 1e-12);
      CHECK(relative_error(b.grad(), ref.dbeta) < 1e-12);
    }
  }
}

TEST_CASE("float32 forward and backward stay within 1e-6 of float64, also at mean 1e4",
          "[set_norm][float32]") {
  const double mean = GENERATE(0.0, 1e4);
  CAPTURE(mean);
  for (const Case& c : cases()) {
    CAPTURE(c.name);
    Rng rng{717};
    const Tensor x32 = randn(c.shape, DType::f32, rng, mean, 1.0);
    const Tensor dy32 = randn(c.shape, DType::f32, rng);
    const Tensor w32 =
        c.param_shape.empty() ? Tensor() : randn(c.param_shape, DType::f32, rng, 1.0);
    const Tensor b32 = c.param_shape.empty() ? Tensor() : randn(c.param_shape, DType::f32, rng);
    auto run = [&](DType t, Tensor& y, Tensor& dx, Tensor& dw, Tensor& db) {
      Variable x(x32.to(t), true);  // the same values in both dtypes
      Variable w = w32.defined() ? Variable(w32.to(t), true) : Variable();
      Variable b = b32.defined() ? Variable(b32.to(t), true) : Variable();
      const Variable out = c.forward(x, w, b);
      out.backward(dy32.to(t));
      y = out.data();
      dx = x.grad();
      dw = w.defined() ? w.grad() : Tensor();
      db = b.defined() ? b.grad() : Tensor();
    };
    Tensor y32, dx32, dw32, db32, y64, dx64, dw64, db64;
    run(DType::f32, y32, dx32, dw32, db32);
    run(DType::f64, y64, dx64, dw64, db64);
    REQUIRE(y32.dtype() == DType::f32);
    CHECK(relative_error(y32, y64) < 1e-6);
    CHECK(relative_error(dx32, dx64) < 1e-6);
    if (dw32.defined()) {
      CHECK(relative_error(dw32, dw64) < 1e-6);
      CHECK(relative_error(db32, db64) < 1e-6);
    }
  }
}

TEST_CASE("float32 statistics stay exact to 1e-9 when a set's first value is far from its mean",
          "[set_norm][float32]") {
  // The float32 statistics are one sweep of the sums of d = x − K and d², with K the set's first
  // value (set_norm_kernels.cpp), so an outlier as K is their hardest case: here 30σ above a mean
  // of 1e4. Without the shift, Σx² − (Σx)²/m (in double) misses σ² by 1e-8 and more.
  // (4, 6, 5, 5) has BatchNorm swept set by set, (6, 6, 128, 128) (2.25 MiB) by rows
  const Shape shape = GENERATE(Shape{4, 6, 5, 5}, Shape{6, 6, 128, 128});
  CAPTURE(shape);
  Rng rng{31};
  Tensor x32 = randn(shape, DType::f32, rng, 1e4, 1.0);
  const auto values = x32.data<float>();
  const auto map = static_cast<std::size_t>(shape[2] * shape[3]);
  for (std::size_t i = 0; i < values.size(); i += map) {  // (n, c, 0, 0): every set's first value
    values[i] = 1e4F + 30.0F;
  }
  const Tensor x64 = x32.to(DType::f64);  // the same values, so only the arithmetic differs
  const std::vector<std::pair<std::string, NormPlan>> plans{
      {"batch_norm", batch_norm_plan(x32.shape())},
      {"group_norm", group_norm_plan(x32.shape(), 3)},
      {"instance_norm", group_norm_plan(x32.shape(), 6)},
      {"layer_norm", layer_norm_plan("layer_norm", x32.shape(), {6, shape[2], shape[3]})},
  };
  for (const auto& [name, plan] : plans) {
    CAPTURE(name);
    const SetStats s32 = set_statistics(name, x32, plan), s64 = set_statistics(name, x64, plan);
    REQUIRE(s32.var.size() == s64.var.size());
    for (std::size_t s = 0; s < s64.var.size(); ++s) {
      CAPTURE(s);
      REQUIRE(s64.var[s] > 1.0);  // the outlier is in the set
      CHECK(std::abs(s32.var[s] - s64.var[s]) <= 1e-9 * s64.var[s]);
      CHECK(std::abs(s32.mean[s] - s64.mean[s]) <= 1e-9 * std::sqrt(s64.var[s]));
    }
  }
}

TEST_CASE("set_norm_with_stats checks the number of statistics", "[set_norm][errors]") {
  Rng rng{818};
  const Variable x(randn({2, 3, 4}, DType::f32, rng));
  REQUIRE_THROWS_WITH(
      set_norm_with_stats("batch_norm_eval", x, batch_norm_plan(x.shape()),
                          {.mean = {0.0, 0.0}, .rstd = {1.0, 1.0}, .constant = true, .renorm = {}},
                          {}, {}),
      Catch::Matchers::Contains("batch_norm_eval: 2 means and 2 rstds for 3 sets"));
}

TEST_CASE("per_channel_affine: the parameter index of every run", "[set_norm]") {
  SECTION("group norm: period G, stride C/G, runs of H·W") {
    const AffineLayout a = per_channel_affine({2, 8, 3, 5}, group_norm_layout({2, 8, 3, 5}, 4));
    CHECK(a.period == 4);
    CHECK(a.stride == 2);
    CHECK(a.run == 15);
    CHECK(a.numel == 8);
  }
  SECTION("batch norm: one parameter per set") {
    const AffineLayout a = per_channel_affine({2, 8, 3, 5}, channel_layout({2, 8, 3, 5}));
    CHECK(a.period == 8);
    CHECK(a.stride == 1);
    CHECK(a.run == 15);
  }
}

TEST_CASE("LayerNorm's backward gives the same bits on 1 and 2 threads", "[set_norm][layer_norm]") {
  // dγ_d sums over the samples; the sum must not depend on how the samples are split. In float64,
  // where a different order of the same additions shows in the last bits.
  Rng rng{919};
  const Tensor x = randn({16, 8, 24, 24}, DType::f64, rng, 2.0, 1.5);
  const Tensor w = randn({8, 24, 24}, DType::f64, rng, 1.0);
  const Tensor b = randn({8, 24, 24}, DType::f64, rng);
  const Tensor dy = randn({16, 8, 24, 24}, DType::f64, rng);
  REQUIRE(x.numel() >= 2 * kParallelGrain);  // large enough that both sweeps use the threads
  check_same_bits_on_1_and_2_threads([&] {
    Variable xv(x.clone(), true), wv(w.clone(), true), bv(b.clone(), true);
    layer_norm(xv, {8, 24, 24}, wv, bv, kEps).backward(dy);
    return std::vector<Tensor>{xv.grad(), wv.grad(), bv.grad()};
  });
}

TEST_CASE("BatchNorm swept by rows gives the same bits on 1 and 2 threads",
          "[set_norm][batch_norm]") {
  // Each set adds its rows' partial sums in sample order, whichever thread computed them.
  Rng rng{920};
  const Tensor x = randn({6, 8, 96, 96}, DType::f64, rng, 2.0, 1.5);  // 3.4 MiB: by rows
  const Tensor w = randn({8}, DType::f64, rng, 1.0);
  const Tensor b = randn({8}, DType::f64, rng);
  const Tensor dy = randn({6, 8, 96, 96}, DType::f64, rng);
  check_same_bits_on_1_and_2_threads([&] {
    Variable xv(x.clone(), true), wv(w.clone(), true), bv(b.clone(), true);
    const Variable y = batch_norm_train(xv, wv, bv, kEps);
    y.backward(dy);
    return std::vector<Tensor>{y.data(), xv.grad(), wv.grad(), bv.grad()};
  });
}
