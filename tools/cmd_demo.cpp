// tools/cmd_demo.cpp: `normlab demo`, a smoke run of the autograd engine on synthetic data.
// A two-layer perceptron learns a seeded 3-class problem with plain gradient descent and prints
// its loss, which falls. The main job is `normlab train`; this stays as a quick self-check.
#include <fmt/format.h>

#include <CLI/CLI.hpp>

#include "autograd/ops.h"
#include "core/random.h"
#include "core/tensor_math.h"
#include "tools/commands.h"

namespace normlab {

namespace {

struct DemoOptions {
  int steps = 60;
  double lr = 0.5;
  std::uint64_t seed = 1;
};

// Labels are the arg-max of a fixed random linear map of x: learnable, not trivial.
Tensor make_labels(const Tensor& x, Rng& rng) {
  const Tensor w = randn({x.dim(1), 3}, DType::f32, rng);
  const Tensor scores = matmul(Variable(x), Variable(w)).data();
  Tensor labels = Tensor::empty({x.dim(0)}, DType::i64);
  for (std::int64_t n = 0; n < x.dim(0); ++n) {
    std::int64_t best = 0;
    for (std::int64_t c = 1; c < 3; ++c) {
      if (scores.get({n, c}) > scores.get({n, best})) {
        best = c;
      }
    }
    labels.set({n}, static_cast<double>(best));
  }
  return labels;
}

void run_demo(const DemoOptions& o) {
  Rng rng(o.seed);
  const Tensor x = randn({256, 8}, DType::f32, rng);
  const Tensor labels = make_labels(x, rng);
  Variable w1(randn({8, 32}, DType::f32, rng, 0.0, 0.35), true);
  Variable b1(Tensor::zeros({32}), true);
  Variable w2(randn({32, 3}, DType::f32, rng, 0.0, 0.18), true);
  Variable b2(Tensor::zeros({3}), true);
  fmt::print("demo: 2-layer perceptron, 256 synthetic samples, {} steps of gradient descent\n",
             o.steps);
  for (int step = 0; step <= o.steps; ++step) {
    const Variable h = relu(add(matmul(Variable(x), w1), b1));
    const Variable loss = cross_entropy(add(matmul(h, w2), b2), labels);
    if (step % 10 == 0) {
      fmt::print("step {:3d}  loss {:.4f}\n", step, loss.data().item());
    }
    if (step == o.steps) {
      break;
    }
    for (Variable* p : {&w1, &b1, &w2, &b2}) {
      p->zero_grad();
    }
    loss.backward();
    for (Variable* p : {&w1, &b1, &w2, &b2}) {
      add_(p->data(), p->grad(), -o.lr);
    }
  }
}

}  // namespace

void add_demo_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("demo", "fit a small model on synthetic data and print the loss");
  auto opts = std::make_shared<DemoOptions>();
  cmd->add_option("--steps", opts->steps, "number of gradient steps")->capture_default_str();
  cmd->add_option("--lr", opts->lr, "learning rate")->capture_default_str();
  cmd->add_option("--seed", opts->seed, "seed of the synthetic data and the init")
      ->capture_default_str();
  cmd->callback([opts] { run_demo(*opts); });
}

}  // namespace normlab
