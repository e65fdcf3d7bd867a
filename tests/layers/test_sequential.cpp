// Sequential, ResidualBlock, Flatten, Identity: hierarchical names, forward = forward_no_grad,
// float64 gradcheck through whole stacks (every parameter), residual fan-out, and errors.
#include <catch2/catch.hpp>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "layers/activation.h"
#include "layers/conv2d.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/pooling.h"
#include "layers/sequential.h"
#include "tests/layers/layer_test_helpers.h"

using namespace normlab;
using namespace normlab::test;
using Catch::Contains;

namespace {

// conv → relu → conv, as a ResNet basic block body (no normalization).
std::unique_ptr<Sequential> conv_body(std::int64_t in_channels, std::int64_t out_channels,
                                      std::int64_t stride, Rng& rng, DType dtype) {
  auto body = std::make_unique<Sequential>();
  body->emplace<Conv2d>(in_channels, out_channels, 3, rng,
                        Conv2dOptions{.stride = stride, .padding = 1, .dtype = dtype});
  body->emplace<ReLU>();
  body->emplace<Conv2d>(out_channels, out_channels, 3, rng,
                        Conv2dOptions{.padding = 1, .dtype = dtype});
  return body;
}

}  // namespace

TEST_CASE("Sequential names children by index and chains forward and forward_no_grad",
          "[sequential]") {
  Rng rng(1);
  Sequential net;
  net.emplace<Conv2d>(3, 4, 3, rng, Conv2dOptions{.padding = 1});
  net.emplace<MaxPool2d>(2);
  net.emplace<Flatten>();
  net.emplace<Linear>(4 * 2 * 2, 5, rng);
  REQUIRE(net.size() == 4);
  std::vector<std::string> names;
  for (auto& [name, p] : net.named_parameters()) {
    names.push_back(name);
  }
  REQUIRE(names == std::vector<std::string>{"0.weight", "0.bias", "3.weight", "3.bias"});
  const Tensor x = randn({2, 3, 4, 4}, DType::f32, rng);
  const Tensor y = net.forward_no_grad(x);
  REQUIRE(y.shape() == Shape{2, 5});
  REQUIRE(max_abs_diff(y, net.forward(Variable(x)).data()) == 0.0);
  REQUIRE(net.to_string().find("(1): MaxPool2d(kernel_size=2") != std::string::npos);
  REQUIRE(net[2].type_name() == "Flatten");
  REQUIRE_THROWS_AS(net[4], ValueError);
  REQUIRE_THROWS_AS(net.add(nullptr), ValueError);
  Sequential empty;
  REQUIRE(empty.forward_no_grad(x).shares_storage(x));
}

TEST_CASE("a small CNN backward matches central differences", "[sequential][gradcheck]") {
  Rng rng(12);
  Sequential net;
  net.emplace<Conv2d>(2, 3, 3, rng, Conv2dOptions{.stride = 2, .padding = 1, .dtype = DType::f64});
  net.emplace<LeakyReLU>(0.1);
  net.emplace<AvgPool2d>(2, AvgPool2dOptions{.stride = 1});
  net.emplace<Flatten>();
  net.emplace<Linear>(3 * 2 * 2, 4, rng, LinearOptions{.dtype = DType::f64});
  net.emplace<GELU>();
  require_module_gradcheck(net, leaf({2, 2, 5, 6}, rng));
}

TEST_CASE("ResidualBlock backward matches central differences", "[residual][gradcheck]") {
  SECTION("identity shortcut, ReLU") {
    Rng rng(4);
    ResidualBlock block(conv_body(3, 3, 1, rng, DType::f64));
    REQUIRE(block.shortcut() == nullptr);
    require_module_gradcheck(block, leaf({2, 3, 4, 4}, rng));
  }
  SECTION("1x1 stride-2 projection shortcut, no final activation") {
    Rng rng(5);
    ResidualBlock block(
        conv_body(2, 4, 2, rng, DType::f64),
        std::make_unique<Conv2d>(2, 4, 1, rng, Conv2dOptions{.stride = 2, .dtype = DType::f64}),
        nullptr);
    REQUIRE(block.activation() == nullptr);
    require_module_gradcheck(block, leaf({2, 2, 5, 5}, rng));
  }
  SECTION("GELU as the final activation") {
    Rng rng(6);
    ResidualBlock block(std::make_unique<Linear>(5, 5, rng, LinearOptions{.dtype = DType::f64}),
                        nullptr, std::make_unique<GELU>());
    require_module_gradcheck(block, leaf({3, 5}, rng));
  }
}

TEST_CASE("ResidualBlock: y = act(body(x) + x), names, forward_no_grad, errors", "[residual]") {
  Rng rng(7);
  // With an Identity body, y = relu(2x): forward_no_grad must not write into x.
  ResidualBlock twice(std::make_unique<Identity>());
  const Tensor x = Tensor::from_vector({1, 3}, {-1, 0.5, 2}, DType::f32);
  const Tensor y = twice.forward_no_grad(x);
  REQUIRE(y.get({0, 0}) == 0.0);
  REQUIRE(y.get({0, 2}) == 4.0);
  REQUIRE(x.get({0, 2}) == 2.0);
  REQUIRE(max_abs_diff(twice.forward(Variable(x)).data(), y) == 0.0);
  ResidualBlock block(
      conv_body(2, 4, 2, rng, DType::f32),
      std::make_unique<Conv2d>(2, 4, 1, rng, Conv2dOptions{.stride = 2, .bias = false}));
  std::vector<std::string> names;
  for (auto& [name, p] : block.named_parameters()) {
    names.push_back(name);
  }
  REQUIRE(names == std::vector<std::string>{"body.0.weight", "body.0.bias", "body.2.weight",
                                            "body.2.bias", "shortcut.weight"});
  const Tensor x4 = randn({2, 2, 6, 6}, DType::f32, rng);
  REQUIRE(max_abs_diff(block.forward_no_grad(x4), block.forward(Variable(x4)).data()) == 0.0);
  ResidualBlock mismatch(conv_body(2, 4, 2, rng, DType::f32));  // identity shortcut cannot match
  REQUIRE_THROWS_WITH(mismatch.forward_no_grad(x4), Contains("residual_block") &&
                                                        Contains("[2, 4, 3, 3]") &&
                                                        Contains("[2, 2, 6, 6]"));
  REQUIRE_THROWS_AS(ResidualBlock(nullptr), ValueError);
}

TEST_CASE("Flatten merges dims and its backward restores the shape", "[flatten][gradcheck]") {
  Rng rng(2);
  Flatten f;
  Flatten middle(1, 2);
  REQUIRE(f.forward_no_grad(Tensor::zeros({2, 3, 4, 5})).shape() == Shape{2, 60});
  REQUIRE(middle.forward_no_grad(Tensor::zeros({2, 3, 4, 5})).shape() == Shape{2, 12, 5});
  REQUIRE(Flatten(0).forward_no_grad(Tensor::zeros({2, 3})).shape() == Shape{6});
  REQUIRE(flatten_shape({}, 1, -1) == Shape{1});
  require_module_gradcheck(middle, leaf({2, 3, 2, 2}, rng));
  const Variable t(randn({3, 4}, DType::f64, rng).transpose(0, 1), true);  // non-contiguous
  require_gradcheck([](const std::vector<Variable>& in) { return flatten(in[0], 0); }, {t});
  REQUIRE_THROWS_WITH(Flatten(2, 1).forward_no_grad(Tensor::zeros({2, 3, 4})),
                      Contains("start_dim 2"));
  REQUIRE_THROWS_AS(Flatten(3).forward_no_grad(Tensor::zeros({2, 3})), ShapeError);
  Identity id;
  const Variable v = leaf({2}, rng);
  REQUIRE(id.forward(v).same(v));
  REQUIRE(id.to_string() == "Identity()");
}

namespace {

// Records the type of every module whose output it sees.
struct TypeRecorder final : ForwardObserver {
  std::vector<std::string> seen;
  Variable after_forward(const Module& child, const Variable& y) override {
    seen.push_back(child.type_name());
    return y;
  }
};

}  // namespace

TEST_CASE("Sequential runs ReLU then MaxPool2d as one op, unless an observer watches",
          "[sequential][max_pool2d_relu]") {
  Rng rng(5);
  Sequential net;
  net.emplace<Conv2d>(2, 3, 3, rng, Conv2dOptions{.padding = 1, .dtype = DType::f64});
  net.emplace<ReLU>();
  net.emplace<MaxPool2d>(2);
  net.emplace<ReLU>();  // last layer: nothing to fuse with
  const Variable x = leaf({2, 2, 6, 6}, rng);
  const Variable y = net.forward(x);
  REQUIRE(y.grad_fn() != nullptr);
  REQUIRE(y.grad_fn()->name() == "relu");
  REQUIRE(y.grad_fn()->inputs[0].node->name() == "max_pool2d_relu");
  // the same values as the layers one by one, and the same gradient
  const Variable apart = relu(max_pool2d(relu(net[0].forward(x)), 2));
  REQUIRE(max_abs_diff(y.data(), apart.data()) == 0.0);
  REQUIRE(max_abs_diff(net.forward_no_grad(x.data()), apart.data()) == 0.0);
  require_module_gradcheck(net, x);

  TypeRecorder recorder;
  net.set_forward_observer(&recorder);
  const Variable watched = net.forward(x);
  REQUIRE(recorder.seen == std::vector<std::string>{"Conv2d", "ReLU", "MaxPool2d", "ReLU"});
  REQUIRE(watched.grad_fn()->inputs[0].node->name() == "max_pool2d");
  REQUIRE(max_abs_diff(watched.data(), apart.data()) == 0.0);
}
