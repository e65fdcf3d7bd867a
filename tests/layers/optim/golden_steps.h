// tests/layers/optim/golden_steps.h: replays the optimizer goldens of tools/gen_optim_goldens.py.
// Parameters w (3, 4) and b (4) start from inputs_init.npy; step k hands the optimizer the
// gradients in row k of inputs_grads.npy (the lr is halved before step 3, as the script does) and
// the parameters after it must match row k of <case>_<f32|f64>.npy.
#pragma once

#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <memory>
#include <string>

#include "core/npy.h"
#include "layers/optim/optimizer.h"

namespace normlab::test {

using MakeOptimizer = std::function<std::unique_ptr<Optimizer>(std::vector<OptimParam>)>;

inline std::string optim_golden(const std::string& file) {
  return fmt::format("{}/tests/golden/optim/{}", NORMLAB_SOURCE_DIR, file);
}

struct GoldenResult {
  double max_error = 0.0;  // max |θ − θ_torch| / (atol + rtol·|θ_torch|) over all steps; ≤ 1 passes
  int steps = 0;
};

// Runs the golden case with b excluded from decay when no_decay. With resume_after ≥ 0 the
// optimizer is rebuilt from its state_dict after that many steps (as loading a checkpoint does).
inline GoldenResult replay_golden(const std::string& name, DType dtype, bool no_decay,
                                  const MakeOptimizer& make, int resume_after = -1) {
  const Tensor init = read_npy(optim_golden("inputs_init.npy"));
  const Tensor grads = read_npy(optim_golden("inputs_grads.npy"));
  const std::string tag = dtype == DType::f32 ? "f32" : "f64";
  const Tensor want = read_npy(optim_golden(name + "_" + tag + ".npy")).to(DType::f64);
  REQUIRE(want.shape() == Shape{6, 16});
  const double atol = dtype == DType::f32 ? 1e-7 : 1e-15;
  const double rtol = dtype == DType::f32 ? 2e-6 : 1e-13;

  Variable w(init.narrow(0, 0, 12).view({3, 4}).to(dtype).clone(), true);
  Variable b(init.narrow(0, 12, 4).to(dtype).clone(), true);
  const NamedParameters named = {{"w", &w}, {"b", &b}};
  auto groups = [&] { return no_decay ? param_groups(named, is_one_dim) : param_groups(named); };
  std::unique_ptr<Optimizer> opt = make(groups());
  GoldenResult result;
  for (std::int64_t k = 0; k < 6; ++k) {
    if (k == resume_after) {
      const double lr = opt->lr();
      const OptimizerState state = opt->state_dict();
      opt = make(groups());
      opt->load_state_dict(state);
      opt->set_lr(lr);
    }
    if (k == 3) {
      opt->set_lr(opt->lr() / 2);
    }
    const Tensor g = grads.select(0, k);
    w.set_grad(g.narrow(0, 0, 12).view({3, 4}).to(dtype).clone());
    b.set_grad(g.narrow(0, 12, 4).to(dtype).clone());
    opt->step();
    for (std::int64_t j = 0; j < 16; ++j) {
      const double got = j < 12 ? w.data().get({j / 4, j % 4}) : b.data().get({j - 12});
      const double expect = want.get({k, j});
      const double err = std::abs(got - expect) / (atol + rtol * std::abs(expect));
      if (err > result.max_error) {
        result.max_error = err;
      }
    }
    ++result.steps;
  }
  return result;
}

}  // namespace normlab::test
