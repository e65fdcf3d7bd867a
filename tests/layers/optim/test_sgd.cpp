// SGD against torch.optim.SGD goldens (tools/gen_optim_goldens.py), its options' checks and its
// state dict.
#include <catch2/catch.hpp>

#include "core/error.h"
#include "golden_steps.h"
#include "layers/optim/sgd.h"

using namespace normlab;

namespace {

test::MakeOptimizer sgd(SGDOptions o) {
  return [o](std::vector<OptimParam> p) { return std::make_unique<SGD>(std::move(p), o); };
}

}  // namespace

TEST_CASE("sgd matches torch.optim.SGD over six steps", "[sgd][golden]") {
  const auto [name, no_decay, options] = GENERATE(table<std::string, bool, SGDOptions>({
      {"sgd_plain", false, {.lr = 0.1}},
      {"sgd_weight_decay", false, {.lr = 0.1, .weight_decay = 0.05}},
      {"sgd_momentum", true, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01}},
      {"sgd_dampening",
       false,
       {.lr = 0.05, .momentum = 0.8, .dampening = 0.3, .weight_decay = 0.02}},
      {"sgd_nesterov", true, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.05, .nesterov = true}},
  }));
  const DType dtype = GENERATE(DType::f32, DType::f64);
  const int resume_after = GENERATE(-1, 2);
  CAPTURE(name, dtype_name(dtype), resume_after);
  const test::GoldenResult r =
      test::replay_golden(name, dtype, no_decay, sgd(options), resume_after);
  CHECK(r.steps == 6);
  REQUIRE(r.max_error <= 1.0);
}

TEST_CASE("the golden replay notices a different update rule", "[sgd][golden][meta]") {
  // The dampening case replayed without dampening: only steps 2..6 differ, by a term (τ·g) of the
  // order of the update itself. The replay must fail it.
  const test::GoldenResult r = test::replay_golden(
      "sgd_dampening", DType::f64, false, sgd({.lr = 0.05, .momentum = 0.8, .weight_decay = 0.02}));
  REQUIRE(r.max_error > 1e3);
}

TEST_CASE("sgd excludes no-decay parameters from weight decay", "[sgd]") {
  Variable w(Tensor::full({2, 2}, 1.0), true);
  Variable bias(Tensor::full({2}, 1.0), true);
  SGD opt(param_groups({{"w", &w}, {"bias", &bias}}, is_one_dim), {.lr = 0.5, .weight_decay = 0.1});
  REQUIRE_FALSE(opt.params()[1].decay);
  w.set_grad(Tensor::zeros({2, 2}));
  bias.set_grad(Tensor::zeros({2}));
  opt.step();
  CHECK(w.data().get({0, 0}) == Approx(1.0 - 0.5 * 0.1));
  CHECK(bias.data().get({0}) == 1.0);
}

TEST_CASE("sgd momentum state dict is named after parameters and round-trips", "[sgd][state]") {
  Variable w(Tensor::full({2, 3}, 1.0), true);
  Variable v(Tensor::full({3}, 2.0), true);  // no gradient: skipped, no state
  SGD opt(param_groups({{"features.0.weight", &w}, {"features.0.bias", &v}}),
          {.lr = 0.1, .momentum = 0.9});
  REQUIRE(opt.state_dict().empty());
  w.set_grad(Tensor::full({2, 3}, 0.5));
  opt.step();
  const OptimizerState s = opt.state_dict();
  REQUIRE(s.size() == 1);
  REQUIRE(s.count("optim.features.0.weight.momentum_buffer") == 1);
  CHECK(s.at("optim.features.0.weight.momentum_buffer").get({1, 2}) == 0.5);
  CHECK(v.data().get({0}) == 2.0);

  // The state is a copy-on-load: stepping after load must not write into the caller's map.
  SGD other(param_groups({{"features.0.weight", &w}, {"features.0.bias", &v}}),
            {.lr = 0.1, .momentum = 0.9});
  other.load_state_dict(s);
  other.step();
  CHECK(s.at("optim.features.0.weight.momentum_buffer").get({1, 2}) == 0.5);
  CHECK(other.state_dict().at("optim.features.0.weight.momentum_buffer").get({1, 2}) ==
        Approx(0.9 * 0.5 + 0.5));
}

TEST_CASE("sgd rejects bad options", "[sgd][errors]") {
  Variable w(Tensor::zeros({2}), true);
  auto make = [&](SGDOptions o) { return SGD(param_groups({{"w", &w}}), o); };
  REQUIRE_THROWS_AS(make({.lr = -1.0}), ValueError);
  REQUIRE_THROWS_AS(make({.momentum = -0.5}), ValueError);
  REQUIRE_THROWS_AS(make({.weight_decay = -1e-4}), ValueError);
  REQUIRE_THROWS_WITH(make({.momentum = 0.0, .nesterov = true}),
                      Catch::Matchers::Contains("Nesterov momentum requires"));
  REQUIRE_THROWS_WITH(make({.momentum = 0.9, .dampening = 0.1, .nesterov = true}),
                      Catch::Matchers::Contains("zero dampening"));
}
