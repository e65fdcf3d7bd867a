// BatchNorm: gradcheck in training and evaluation, running statistics, errors, PyTorch's names.
#include <catch2/catch.hpp>
#include <cmath>

#include "autograd/gradcheck.h"
#include "core/error.h"
#include "core/tensor_math.h"
#include "layers/norm/batch_norm.h"
#include "tests/layers/norm/norm_test_util.h"

using namespace normlab;
using namespace normlab::test;

TEST_CASE("batch_norm backward matches central differences in training",
          "[batch_norm][gradcheck]") {
  const auto [shape, eps, affine] = GENERATE(table<Shape, double, bool>({
      {{4, 3}, 1e-5, true},         // (N, C)
      {{3, 5, 4}, 1e-5, true},      // (N, C, L), C not a power of two
      {{2, 3, 2, 3}, 1e-5, true},   // (N, C, H, W)
      {{1, 3, 2, 2}, 1e-5, true},   // N = 1: the set is one image's H·W
      {{3, 2, 1, 1}, 1e-5, true},   // H = W = 1: m = N = 3
      {{2, 2, 1, 1}, 1e-5, true},   // m = 2, the smallest allowed set
      {{2, 3, 2, 2}, 1e-12, true},  // small eps
      {{2, 3, 2, 2}, 1.0, true},    // large eps: ε comparable with σ²
      {{2, 3, 2, 2}, 1e-5, false},  // no affine
  }));
  CAPTURE(shape, eps, affine);
  Rng rng{20240601};
  BatchNorm bn(shape[1], {.eps = eps, .affine = affine, .dtype = DType::f64});
  randomize(bn.weight(), rng);
  randomize(bn.bias(), rng, 0.0);
  // Without affine the parameters are undefined and only x is checked.
  auto f = [&, with_affine = affine, e = eps](const std::vector<Variable>& in) {
    return batch_norm_train(in[0], with_affine ? in[1] : Variable(),
                            with_affine ? in[2] : Variable(), e);
  };
  std::vector<Variable> inputs{randn_leaf(shape, rng, 0.5, 2.0)};
  if (affine) {
    inputs.insert(inputs.end(), {bn.weight(), bn.bias()});
  }
  const GradcheckReport r = gradcheck(f, inputs, tight());
  INFO(r.worst());
  REQUIRE(r.ok());
}

TEST_CASE("batch_norm module in training mode matches central differences",
          "[batch_norm][gradcheck]") {
  Rng rng{7};
  BatchNorm bn(3, {.dtype = DType::f64});
  randomize(bn.weight(), rng);
  randomize(bn.bias(), rng, 0.0);
  // Each call updates the running statistics, which a training forward never reads.
  auto f = [&](const std::vector<Variable>& in) { return bn.forward(in[0]); };
  const GradcheckReport r =
      gradcheck(f, {randn_leaf({2, 3, 3}, rng), bn.weight(), bn.bias()}, tight());
  INFO(r.worst());
  REQUIRE(r.ok());
}

TEST_CASE("batch_norm backward matches central differences in eval mode",
          "[batch_norm][gradcheck]") {
  const auto [shape, eps] = GENERATE(table<Shape, double>({
      {{2, 3, 2, 2}, 1e-5},
      {{1, 5, 1, 1}, 1e-5},  // a single value per channel is fine in eval mode
      {{3, 4}, 1.0},
  }));
  CAPTURE(shape, eps);
  Rng rng{99};
  BatchNorm bn(shape[1], {.eps = eps, .dtype = DType::f64});
  randomize(bn.weight(), rng);
  randomize(bn.bias(), rng, 0.0);
  fill_normal_(bn.running_mean(), rng, 0.3, 1.0);
  fill_uniform_(bn.running_var(), rng, 0.2, 3.0);
  bn.eval();
  auto f = [&](const std::vector<Variable>& in) { return bn.forward(in[0]); };
  const GradcheckReport r = gradcheck(f, {randn_leaf(shape, rng), bn.weight(), bn.bias()}, tight());
  INFO(r.worst());
  REQUIRE(r.ok());
}

TEST_CASE("batch_norm eval backward is gamma times running rstd times dy", "[batch_norm]") {
  Rng rng{3};
  BatchNorm bn(2, {.eps = 1e-5, .dtype = DType::f64});
  randomize(bn.weight(), rng);
  bn.running_var().set({0}, 4.0);
  bn.running_var().set({1}, 0.25);
  bn.eval();
  const Variable x = randn_leaf({3, 2}, rng);
  const Tensor dy = randn({3, 2}, DType::f64, rng);
  bn.forward(x).backward(dy);
  for (std::int64_t n = 0; n < 3; ++n) {
    for (std::int64_t c = 0; c < 2; ++c) {
      const double want = bn.weight().data().get({c}) /
                          std::sqrt(bn.running_var().get({c}) + 1e-5) * dy.get({n, c});
      REQUIRE(x.grad().get({n, c}) == Approx(want).epsilon(1e-12));
    }
  }
}

TEST_CASE("batch_norm updates running statistics with the unbiased variance", "[batch_norm]") {
  Rng rng{11};
  BatchNorm bn(2, {.momentum = 0.25, .dtype = DType::f64});
  const Tensor x = randn({4, 2, 3}, DType::f64, rng, 2.0, 3.0);
  bn.forward_no_grad(x);
  for (std::int64_t c = 0; c < 2; ++c) {
    double sum = 0.0, sq = 0.0;
    for (std::int64_t n = 0; n < 4; ++n) {
      for (std::int64_t l = 0; l < 3; ++l) {
        sum += x.get({n, c, l});
      }
    }
    const double mu = sum / 12.0;
    for (std::int64_t n = 0; n < 4; ++n) {
      for (std::int64_t l = 0; l < 3; ++l) {
        sq += (x.get({n, c, l}) - mu) * (x.get({n, c, l}) - mu);
      }
    }
    REQUIRE(bn.running_mean().get({c}) == Approx(0.25 * mu).epsilon(1e-12));
    REQUIRE(bn.running_var().get({c}) == Approx(0.75 + 0.25 * sq / 11.0).epsilon(1e-12));
  }
  REQUIRE(bn.num_batches_tracked().item() == 1.0);
}

TEST_CASE("batch_norm without momentum keeps the cumulative average", "[batch_norm]") {
  Rng rng{12};
  BatchNorm bn(3, {.momentum = std::nullopt, .dtype = DType::f64});
  std::vector<double> sum_mean(3, 0.0);
  for (int step = 0; step < 4; ++step) {
    const Tensor x = randn({5, 3}, DType::f64, rng, step, 1.0);
    bn.forward_no_grad(x);
    for (std::int64_t c = 0; c < 3; ++c) {
      double s = 0.0;
      for (std::int64_t n = 0; n < 5; ++n) {
        s += x.get({n, c});
      }
      sum_mean[static_cast<std::size_t>(c)] += s / 5.0;
    }
  }
  for (std::int64_t c = 0; c < 3; ++c) {
    REQUIRE(bn.running_mean().get({c}) ==
            Approx(sum_mean[static_cast<std::size_t>(c)] / 4.0).epsilon(1e-12));
  }
  REQUIRE(bn.num_batches_tracked().item() == 4.0);
}

TEST_CASE("batch_norm without running statistics normalizes with the batch in eval mode",
          "[batch_norm]") {
  Rng rng{13};
  BatchNorm tracked(3, {.dtype = DType::f64});
  BatchNorm untracked(3, {.track_running_stats = false, .dtype = DType::f64});
  const Tensor x = randn({4, 3, 2}, DType::f64, rng, 5.0, 2.0);
  const Tensor train_y = tracked.forward_no_grad(x);
  untracked.eval();
  REQUIRE(untracked.named_buffers().empty());
  REQUIRE(max_abs_diff(untracked.forward_no_grad(x), train_y) < 1e-12);
}

TEST_CASE("batch_norm training on one value per channel is an error", "[batch_norm][errors]") {
  BatchNorm bn(4);
  const Tensor x = Tensor::ones({1, 4});
  REQUIRE_THROWS_AS(bn.forward_no_grad(x), ValueError);
  REQUIRE_THROWS_WITH(bn.forward_no_grad(x), Catch::Contains("more than 1 value per channel") &&
                                                 Catch::Contains("[1, 4]"));
  bn.eval();
  REQUIRE_NOTHROW(bn.forward_no_grad(x));
}

TEST_CASE("batch_norm rejects a wrong channel count, rank or dtype", "[batch_norm][errors]") {
  BatchNorm bn(4);
  REQUIRE_THROWS_WITH(bn.forward_no_grad(Tensor::ones({2, 3, 5})),
                      Catch::Contains("3 channels") && Catch::Contains("[2, 3, 5]"));
  REQUIRE_THROWS_AS(bn.forward_no_grad(Tensor::ones({4})), ShapeError);
  REQUIRE_THROWS_AS(bn.forward_no_grad(Tensor::ones({2, 4}, DType::f64)), DTypeError);
  REQUIRE_THROWS_AS(bn.forward_no_grad(Tensor::ones({2, 4}, DType::i32)), DTypeError);
  REQUIRE_THROWS_AS(BatchNorm(0), ValueError);
  REQUIRE_THROWS_AS(BatchNorm(3, {.eps = 0.0}), ValueError);
  REQUIRE_THROWS_AS(BatchNorm(3, {.momentum = 1.5}), ValueError);
}

TEST_CASE("batch_norm state has PyTorch's names", "[batch_norm]") {
  BatchNorm bn(5);
  const StateDict state = bn.state_dict();
  REQUIRE(state.size() == 5);
  for (const char* name :
       {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}) {
    REQUIRE(state.count(name) == 1);
  }
  REQUIRE(bn.to_string() ==
          "BatchNorm(5, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)");
  BatchNorm plain(5, {.affine = false, .track_running_stats = false});
  REQUIRE(plain.state_dict().empty());
}
