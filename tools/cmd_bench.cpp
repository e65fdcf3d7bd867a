// tools/cmd_bench.cpp: `normlab bench`, training throughput of a model on random in-memory data.
// Each batch size runs `--warmup` untimed steps, then `--repeats` timed blocks of `--steps` steps
// (forward, cross-entropy, backward, SGD update), and prints the median images/s over the blocks.
// tools/bench_torch.py measures the PyTorch twin of the same model the same way, so the two can
// be run side by side (docs/benchmarks.md). No data loading: this measures the framework.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>

#include "autograd/ops.h"
#include "core/random.h"
#include "core/threads.h"
#include "layers/norm/norm_kind.h"
#include "layers/optim/sgd.h"
#include "models/model.h"
#include "tools/commands.h"

namespace normlab {

namespace {

struct BenchOptions {
  std::string model = "tiny";
  std::string norm = "group";
  std::vector<std::int64_t> batch_sizes{2, 8, 32, 128};
  std::int64_t image_size = 28;
  std::int64_t channels = 1;
  int steps = 20;
  int repeats = 5;
  int warmup = 3;
  int threads = 0;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double images_per_second(const BenchOptions& o, std::int64_t batch) {
  Rng rng(0);
  ModelOptions mo;
  mo.norm = parse_norm_kind(o.norm);
  mo.in_channels = o.channels;
  mo.image_size = o.image_size;
  auto model = make_model(parse_model_kind(o.model), mo, rng);
  model->train();
  SGD sgd(param_groups(model->named_parameters()), {.lr = 0.01, .momentum = 0.9});
  const Tensor x = randn({batch, o.channels, o.image_size, o.image_size}, DType::f32, rng);
  Tensor labels = Tensor::empty({batch}, DType::i64);
  for (std::int64_t i = 0; i < batch; ++i) {
    labels.set({i}, static_cast<double>(rng.randint(10)));
  }
  auto step = [&] {
    const Variable loss = cross_entropy(model->forward(Variable(x)), labels);
    sgd.zero_grad();
    loss.backward();
    sgd.step();
  };
  for (int i = 0; i < o.warmup; ++i) {
    step();
  }
  std::vector<double> rates;
  for (int r = 0; r < o.repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < o.steps; ++i) {
      step();
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rates.push_back(static_cast<double>(batch * o.steps) / secs);
  }
  return median(rates);
}

void run_bench(const BenchOptions& o) {
  if (o.steps < 1 || o.repeats < 1 || o.warmup < 0) {
    throw ValueError("bench: --steps and --repeats must be at least 1, --warmup at least 0");
  }
  set_num_threads(o.threads);
  fmt::print("normlab bench: {} + {}, {}x{}x{} inputs, {} threads, median of {} x {} steps\n",
             o.model, o.norm, o.channels, o.image_size, o.image_size, num_threads(), o.repeats,
             o.steps);
  fmt::print("{:>6}  {:>12}\n", "batch", "images/s");
  for (const std::int64_t b : o.batch_sizes) {
    if (b < 1) {
      throw ValueError(fmt::format("bench: batch size {} must be at least 1", b));
    }
    fmt::print("{:>6}  {:>12.1f}\n", b, images_per_second(o, b));
    std::fflush(stdout);
  }
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* cmd =
      app.add_subcommand("bench", "training throughput (images/s) on random in-memory data");
  auto o = std::make_shared<BenchOptions>();
  cmd->option_defaults()->always_capture_default();
  cmd->add_option("--model", o->model, "tiny | vgg | resnet20");
  cmd->add_option("--norm", o->norm, "normalization of the model");
  cmd->add_option("--batch-sizes", o->batch_sizes, "batch sizes to measure")->delimiter(',');
  cmd->add_option("--image-size", o->image_size, "input height and width");
  cmd->add_option("--channels", o->channels, "input channels");
  cmd->add_option("--steps", o->steps, "training steps per timed block");
  cmd->add_option("--repeats", o->repeats, "timed blocks; the median is reported");
  cmd->add_option("--warmup", o->warmup, "untimed steps first");
  cmd->add_option("--threads", o->threads, "threads (0: every core)");
  cmd->callback([o] { run_bench(*o); });
}

}  // namespace normlab
