// Weight Standardization: gradcheck of the standardization alone and of WSConv2d (through the
// conv's own backward), the standardized statistics, and the PyTorch golden.
#include <catch2/catch.hpp>
#include <cmath>

#include "autograd/gradcheck.h"
#include "core/error.h"
#include "core/npy.h"
#include "core/tensor_math.h"
#include "layers/norm/weight_standardization.h"
#include "tests/layers/norm/norm_test_util.h"

using namespace normlab;
using namespace normlab::test;

TEST_CASE("weight_standardization backward matches central differences",
          "[weight_standardization][gradcheck]") {
  const auto [shape, eps] = GENERATE(table<Shape, double>({
      {{3, 2, 3, 3}, 1e-5},  // a 3x3 conv weight
      {{5, 1, 1, 1}, 1e-5},  // I = 1: Ŵ = 0
      {{4, 3}, 1e-12},       // a linear weight, small eps
      {{2, 6}, 1.0},         // large eps
  }));
  CAPTURE(shape, eps);
  Rng rng{81};
  auto f = [e = eps](const std::vector<Variable>& in) { return weight_standardize(in[0], e); };
  const GradcheckReport r = gradcheck(f, {randn_leaf(shape, rng, 0.1, 0.3)}, tight());
  INFO(r.worst());
  REQUIRE(r.ok());
}

TEST_CASE("weight_standardization ws_conv2d backward matches central differences",
          "[weight_standardization][gradcheck]") {
  const auto [groups, bias, N] = GENERATE(table<int, bool, int>({
      {1, true, 2}, {2, false, 1},  // grouped conv, no bias, N = 1
  }));
  CAPTURE(groups, bias, N);
  Rng rng{82};
  WSConv2d conv(4, 4, 3, rng,
                {.conv = {.padding = 1, .groups = groups, .bias = bias, .dtype = DType::f64}});
  std::vector<Variable> inputs{randn_leaf({N, 4, 3, 3}, rng), conv.weight()};
  if (bias) {
    inputs.push_back(conv.bias());
  }
  auto f = [&](const std::vector<Variable>& in) { return conv.forward(in[0]); };
  const GradcheckReport r = gradcheck(f, inputs, tight());
  INFO(r.worst());
  REQUIRE(r.ok());
}

TEST_CASE("weight_standardization gives every output channel zero mean and unit variance",
          "[weight_standardization]") {
  Rng rng{83};
  const Tensor w = randn({4, 3, 3, 3}, DType::f64, rng, 2.0, 0.1);
  const Tensor what = weight_standardize(Variable(w), 1e-12).data();
  for (std::int64_t o = 0; o < 4; ++o) {
    const Tensor row = what.select(0, o);
    const double mean = sum_all(row) / 27.0;
    REQUIRE(std::abs(mean) < 1e-12);
    REQUIRE(dot_all(row, row) / 27.0 == Approx(1.0).epsilon(1e-9));
  }
}

TEST_CASE("weight_standardization ws_conv2d matches PyTorch", "[weight_standardization][golden]") {
  const DType dtype = GENERATE(DType::f32, DType::f64);
  const std::string dir = NORMLAB_SOURCE_DIR "/tests/golden/norm/ws_conv2d.";
  const std::string tag = dtype == DType::f64 ? "f64" : "f32";
  const double tol = dtype == DType::f64 ? 1e-10 : 2e-5;
  Rng rng{84};
  WSConv2d conv(2, 3, 3, rng, {.conv = {.padding = 1, .dtype = dtype}});
  conv.weight().data().copy_(read_npy(dir + "weight.npy"));
  conv.bias().data().copy_(read_npy(dir + "bias.npy"));
  const Variable x(read_npy(dir + "x.npy").to(dtype), true);
  const Variable y = conv.forward(x);
  REQUIRE(max_abs_diff(y.data(), read_npy(dir + "y." + tag + ".npy")) < tol * 10);
  REQUIRE(max_abs_diff(conv.forward_no_grad(x.data()), y.data()) < tol);
  y.backward(read_npy(dir + "dy.npy").to(dtype));
  REQUIRE(max_abs_diff(x.grad(), read_npy(dir + "dx." + tag + ".npy")) < tol * 10);
  REQUIRE(max_abs_diff(conv.weight().grad(), read_npy(dir + "dweight." + tag + ".npy")) < tol * 10);
  REQUIRE(max_abs_diff(conv.bias().grad(), read_npy(dir + "dbias." + tag + ".npy")) < tol * 10);
  REQUIRE(conv.to_string() == "WSConv2d(2, 3, kernel_size=3, padding=1, eps=1e-05)");
}

TEST_CASE("weight_standardization rejects a 1-D weight", "[weight_standardization][errors]") {
  REQUIRE_THROWS_AS(weight_standardize(Variable(Tensor::ones({4})), 1e-5), ShapeError);
  REQUIRE_THROWS_AS(weight_standardize(Variable(Tensor::ones({4, 2})), 0.0), ValueError);
}
