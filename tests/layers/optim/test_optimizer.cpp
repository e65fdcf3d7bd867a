// The optimizer base: parameter groups for weight decay, duplicate and null parameters, lr.
#include <catch2/catch.hpp>

#include "core/error.h"
#include "layers/optim/sgd.h"

using namespace normlab;

TEST_CASE("param_groups marks no-decay parameters", "[optimizer]") {
  Variable conv_w(Tensor::zeros({4, 3, 3, 3}), true);
  Variable conv_b(Tensor::zeros({4}), true);
  Variable gn_gamma(Tensor::ones({4}), true);
  Variable fc_w(Tensor::zeros({10, 4}), true);
  const NamedParameters named = {{"features.0.weight", &conv_w},
                                 {"features.0.bias", &conv_b},
                                 {"features.1.weight", &gn_gamma},
                                 {"fc.weight", &fc_w}};
  auto decays = [](const std::vector<OptimParam>& g) {
    std::vector<bool> out;
    out.reserve(g.size());
    for (const OptimParam& p : g) {
      out.push_back(p.decay);
    }
    return out;
  };
  CHECK(decays(param_groups(named)) == std::vector<bool>{true, true, true, true});
  CHECK(decays(param_groups(named, is_one_dim)) == std::vector<bool>{true, false, false, true});
  CHECK(decays(param_groups(named, std::vector<std::string>{"fc.weight"})) ==
        std::vector<bool>{true, true, true, false});
  REQUIRE_THROWS_WITH(param_groups(named, std::vector<std::string>{"fc.bias"}),
                      Catch::Matchers::Contains("'fc.bias'"));
}

TEST_CASE("optimizers reject duplicate, null and integer parameters", "[optimizer][errors]") {
  Variable w(Tensor::zeros({2}), true);
  Variable labels(Tensor::zeros({2}, DType::i64), false);
  REQUIRE_THROWS_WITH(SGD(param_groups({{"a", &w}, {"a", &w}}), {}),
                      Catch::Matchers::Contains("appears twice"));
  REQUIRE_THROWS_WITH(SGD(param_groups({{"a", &w}, {"b", &w}}), {}),
                      Catch::Matchers::Contains("same variable"));
  REQUIRE_THROWS_AS(SGD({{.name = "a", .variable = nullptr}}, {}), ValueError);
  REQUIRE_THROWS_AS(SGD(param_groups({{"l", &labels}}), {}), DTypeError);
}

TEST_CASE("set_lr drives the next step; zero_grad drops gradients", "[optimizer]") {
  Variable w(Tensor::full({1}, 1.0, DType::f64), true);
  SGD opt(param_groups({{"w", &w}}), {.lr = 0.1});
  opt.set_lr(0.5);
  CHECK(opt.lr() == 0.5);
  w.set_grad(Tensor::full({1}, 2.0, DType::f64));
  opt.step();
  CHECK(w.data().get({0}) == Approx(0.0));
  opt.zero_grad();
  CHECK_FALSE(w.grad().defined());
  opt.step();  // no gradient: nothing moves
  CHECK(w.data().get({0}) == Approx(0.0));
  REQUIRE_THROWS_AS(opt.set_lr(-1.0), ValueError);
}

TEST_CASE("a gradient of the wrong shape is a ShapeError naming the parameter",
          "[optimizer][errors]") {
  Variable w(Tensor::zeros({2, 2}), true);
  SGD opt(param_groups({{"layer.weight", &w}}), {.lr = 0.1});
  w.set_grad(Tensor::zeros({4}));
  REQUIRE_THROWS_WITH(
      opt.step(), Catch::Matchers::Contains("layer.weight") && Catch::Matchers::Contains("[4]"));
}
