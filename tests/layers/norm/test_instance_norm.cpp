// InstanceNorm2d: gradcheck with and without affine and running statistics, PyTorch's defaults.
#include <catch2/catch.hpp>

#include "autograd/gradcheck.h"
#include "core/error.h"
#include "core/tensor_math.h"
#include "layers/norm/instance_norm.h"
#include "tests/layers/norm/norm_test_util.h"

using namespace normlab;
using namespace normlab::test;

TEST_CASE("instance_norm backward matches central differences in training",
          "[instance_norm][gradcheck]") {
  const auto [shape, eps] = GENERATE(table<Shape, double>({
      {{2, 3, 2, 3}, 1e-5},
      {{1, 5, 2, 1}, 1e-5},  // N = 1, m = 2
      {{2, 3, 3, 3}, 1e-12},
      {{2, 2, 2, 2}, 1.0},
  }));
  CAPTURE(shape, eps);
  Rng rng{51};
  InstanceNorm2d in(shape[1], {.eps = eps, .affine = true, .dtype = DType::f64});
  randomize(in.weight(), rng);
  randomize(in.bias(), rng, 0.0);
  auto f = [e = eps](const std::vector<Variable>& v) { return instance_norm(v[0], v[1], v[2], e); };
  const GradcheckReport r =
      gradcheck(f, {randn_leaf(shape, rng, 1.0, 2.0), in.weight(), in.bias()}, tight());
  INFO(r.worst());
  REQUIRE(r.ok());
}

TEST_CASE("instance_norm with running statistics matches central differences in eval mode",
          "[instance_norm][gradcheck]") {
  Rng rng{52};
  InstanceNorm2d in(3, {.affine = true, .track_running_stats = true, .dtype = DType::f64});
  randomize(in.weight(), rng);
  in.forward_no_grad(randn({2, 3, 4, 4}, DType::f64, rng, 2.0, 3.0));
  in.eval();
  auto f = [&](const std::vector<Variable>& v) { return in.forward(v[0]); };
  const GradcheckReport r =
      gradcheck(f, {randn_leaf({1, 3, 1, 1}, rng), in.weight(), in.bias()}, tight());  // H = W = 1
  INFO(r.worst());
  REQUIRE(r.ok());
}

TEST_CASE("instance_norm updates running statistics with the batch average of instances",
          "[instance_norm]") {
  Rng rng{53};
  InstanceNorm2d in(2, {.momentum = 0.5, .track_running_stats = true, .dtype = DType::f64});
  const Tensor x = randn({3, 2, 2, 2}, DType::f64, rng, 1.0, 2.0);
  in.forward_no_grad(x);
  for (std::int64_t c = 0; c < 2; ++c) {
    double mean_avg = 0.0, var_avg = 0.0;
    for (std::int64_t n = 0; n < 3; ++n) {
      double mu = 0.0, sq = 0.0;
      for (std::int64_t k = 0; k < 4; ++k) {
        mu += x.get({n, c, k / 2, k % 2}) / 4.0;
      }
      for (std::int64_t k = 0; k < 4; ++k) {
        sq += (x.get({n, c, k / 2, k % 2}) - mu) * (x.get({n, c, k / 2, k % 2}) - mu);
      }
      mean_avg += mu / 3.0;
      var_avg += sq / 3.0 / 3.0;  // unbiased per instance (HW − 1 = 3), averaged over N = 3
    }
    REQUIRE(in.running_mean().get({c}) == Approx(0.5 * mean_avg).epsilon(1e-12));
    REQUIRE(in.running_var().get({c}) == Approx(0.5 + 0.5 * var_avg).epsilon(1e-12));
  }
  REQUIRE(in.num_batches_tracked().item() == 0.0);
}

TEST_CASE("instance_norm has PyTorch's defaults and errors", "[instance_norm][errors]") {
  InstanceNorm2d in(4);
  REQUIRE(in.state_dict().empty());
  REQUIRE(in.to_string() ==
          "InstanceNorm2d(4, eps=1e-05, momentum=0.1, affine=False, track_running_stats=False)");
  REQUIRE_THROWS_WITH(in.forward_no_grad(Tensor::ones({2, 4, 1, 1})),
                      Catch::Contains("more than 1 spatial element"));
  in.eval();  // no running statistics: still instance statistics, still an error
  REQUIRE_THROWS_AS(in.forward_no_grad(Tensor::ones({2, 4, 1, 1})), ValueError);
  REQUIRE_THROWS_AS(in.forward_no_grad(Tensor::ones({2, 4, 3})), ShapeError);
  REQUIRE_THROWS_WITH(in.forward_no_grad(Tensor::ones({2, 3, 2, 2})),
                      Catch::Contains("3 channels"));
}
