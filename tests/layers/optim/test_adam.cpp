// Adam and AdamW against torch.optim goldens (tools/gen_optim_goldens.py), bias correction by
// hand, option checks and state dict validation.
#include <catch2/catch.hpp>
#include <cmath>

#include "core/error.h"
#include "golden_steps.h"
#include "layers/optim/adam.h"

using namespace normlab;

namespace {

test::MakeOptimizer adam(AdamOptions o, bool decoupled) {
  return [o, decoupled](std::vector<OptimParam> p) -> std::unique_ptr<Optimizer> {
    if (decoupled) {
      return std::make_unique<AdamW>(std::move(p), o);
    }
    return std::make_unique<Adam>(std::move(p), o);
  };
}

}  // namespace

TEST_CASE("adam and adamw match torch.optim over six steps", "[adam][golden]") {
  const auto [name, decoupled, no_decay, options] =
      GENERATE(table<std::string, bool, bool, AdamOptions>({
          {"adam", false, false, {.lr = 0.01}},
          {"adam_weight_decay",
           false,
           true,
           {.lr = 0.01, .beta1 = 0.8, .beta2 = 0.95, .eps = 1e-6, .weight_decay = 0.1}},
          {"adam_amsgrad", false, false, {.lr = 0.01, .weight_decay = 0.01, .amsgrad = true}},
          {"adamw", true, true, {.lr = 0.01, .weight_decay = 0.1}},
          {"adamw_amsgrad",
           true,
           false,
           {.lr = 0.02, .beta1 = 0.85, .beta2 = 0.99, .weight_decay = 0.05, .amsgrad = true}},
      }));
  const DType dtype = GENERATE(DType::f32, DType::f64);
  const int resume_after = GENERATE(-1, 3);
  CAPTURE(name, dtype_name(dtype), resume_after);
  const test::GoldenResult r =
      test::replay_golden(name, dtype, no_decay, adam(options, decoupled), resume_after);
  CHECK(r.steps == 6);
  REQUIRE(r.max_error <= 1.0);
}

TEST_CASE("the golden replay notices a missing amsgrad", "[adam][golden][meta]") {
  const test::GoldenResult r = test::replay_golden("adam_amsgrad", DType::f64, false,
                                                   adam({.lr = 0.01, .weight_decay = 0.01}, false));
  REQUIRE(r.max_error > 1e3);
}

TEST_CASE("adam's first step is lr·sign(g) after bias correction", "[adam]") {
  // m_1 = (1 − β1)·g, v_1 = (1 − β2)·g², so m̂ = g, v̂ = g² and θ moves by lr·g/(|g| + ε).
  Variable w(Tensor::from_vector({3}, {1.0, -2.0, 0.5}, DType::f64), true);
  Adam opt(param_groups({{"w", &w}}), {.lr = 0.1, .eps = 0.0});
  w.set_grad(Tensor::from_vector({3}, {3.0, -0.25, 1e-3}, DType::f64));
  opt.step();
  CHECK(w.data().get({0}) == Approx(0.9).epsilon(1e-12));
  CHECK(w.data().get({1}) == Approx(-1.9).epsilon(1e-12));
  CHECK(w.data().get({2}) == Approx(0.4).epsilon(1e-12));
  const OptimizerState s = opt.state_dict();
  CHECK(s.at("optim.w.step").dtype() == DType::i64);
  CHECK(s.at("optim.w.step").item() == 1.0);
  CHECK(s.at("optim.w.exp_avg").get({0}) == Approx(0.3));
  CHECK(s.at("optim.w.exp_avg_sq").get({0}) == Approx(0.009));
  CHECK(s.count("optim.w.max_exp_avg_sq") == 0);
}

TEST_CASE("adamw decays no-decay parameters not at all", "[adam]") {
  Variable w(Tensor::full({2, 2}, 1.0, DType::f64), true);
  Variable gamma(Tensor::full({2}, 1.0, DType::f64), true);
  AdamW opt(
      param_groups({{"w", &w}, {"norm.weight", &gamma}}, std::vector<std::string>{"norm.weight"}),
      {.lr = 0.1, .weight_decay = 0.5});
  w.set_grad(Tensor::zeros({2, 2}, DType::f64));
  gamma.set_grad(Tensor::zeros({2}, DType::f64));
  opt.step();
  CHECK(w.data().get({0, 0}) == Approx(1.0 - 0.1 * 0.5));
  CHECK(gamma.data().get({0}) == 1.0);
}

TEST_CASE("adam state dict loads only complete, well-shaped state", "[adam][state][errors]") {
  Variable w(Tensor::full({2, 3}, 1.0), true);
  Adam opt(param_groups({{"layer.weight", &w}}), {.lr = 0.01, .amsgrad = true});
  w.set_grad(Tensor::full({2, 3}, 0.5));
  opt.step();
  const OptimizerState good = opt.state_dict();
  REQUIRE(good.size() == 4);

  Adam fresh(param_groups({{"layer.weight", &w}}), {.lr = 0.01, .amsgrad = true});
  SECTION("a missing moment") {
    OptimizerState bad = good;
    bad.erase("optim.layer.weight.exp_avg_sq");
    REQUIRE_THROWS_WITH(fresh.load_state_dict(bad),
                        Catch::Matchers::Contains("optim.layer.weight.exp_avg_sq"));
  }
  SECTION("a wrong shape") {
    OptimizerState bad = good;
    bad["optim.layer.weight.exp_avg"] = Tensor::zeros({3, 2});
    REQUIRE_THROWS_AS(fresh.load_state_dict(bad), ShapeError);
  }
  SECTION("an unknown parameter or key") {
    OptimizerState bad = good;
    bad["optim.layer.bias.exp_avg"] = Tensor::zeros({3});
    REQUIRE_THROWS_WITH(fresh.load_state_dict(bad), Catch::Matchers::Contains("layer.bias"));
    OptimizerState bad2 = good;
    bad2["optim.layer.weight.momentum_buffer"] = Tensor::zeros({2, 3});
    REQUIRE_THROWS_AS(fresh.load_state_dict(bad2), ValueError);
  }
  SECTION("a negative step") {
    OptimizerState bad = good;
    bad["optim.layer.weight.step"] = Tensor::scalar(-1.0, DType::i64);
    REQUIRE_THROWS_AS(fresh.load_state_dict(bad), ValueError);
  }
  // Every failure above left the fresh optimizer without state; a good dict loads.
  REQUIRE(fresh.state_dict().empty());
  fresh.load_state_dict(good);
  REQUIRE(fresh.state_dict().size() == 4);
}

TEST_CASE("adam rejects bad options", "[adam][errors]") {
  Variable w(Tensor::zeros({2}), true);
  auto make = [&](AdamOptions o) { return Adam(param_groups({{"w", &w}}), o); };
  REQUIRE_THROWS_WITH(make({.beta1 = 1.0}), Catch::Matchers::Contains("beta1"));
  REQUIRE_THROWS_WITH(make({.beta2 = -0.1}), Catch::Matchers::Contains("beta2"));
  REQUIRE_THROWS_AS(make({.eps = -1e-8}), ValueError);
  REQUIRE_THROWS_AS(make({.weight_decay = -1.0}), ValueError);
  REQUIRE_THROWS_AS(make({.lr = std::nan("")}), ValueError);
}
