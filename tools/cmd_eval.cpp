// tools/cmd_eval.cpp: `normlab eval`, a checkpoint evaluated on a dataset's test split: accuracy,
// loss and the confusion matrix.
#include <fmt/format.h>

#include <CLI/CLI.hpp>

#include "core/error.h"
#include "core/safetensors.h"
#include "core/threads.h"
#include "datasets/spec.h"
#include "tools/commands.h"
#include "tools/trainer.h"

namespace normlab {

DatasetSplits load_run_data(const TrainConfig& c);  // tools/cmd_train.cpp

namespace {

struct EvalOptions {
  std::string checkpoint;
  std::string data;  // empty: the dataset of the run
  std::int64_t batch_size = 500;
  int threads = 0;
};

void run_eval(const EvalOptions& o) {
  set_num_threads(o.threads);
  const Safetensors file = read_safetensors(o.checkpoint);
  const auto cfg = file.metadata.find("config");
  if (cfg == file.metadata.end()) {
    throw IoError(fmt::format("eval: {} has no run configuration; is it a normlab checkpoint?",
                              o.checkpoint));
  }
  TrainConfig c =
      parse_train_config(cfg->second, fmt::format("{} metadata 'config'", o.checkpoint));
  if (!o.data.empty()) {
    c.data = o.data;
  }
  c.train_subset = 0;
  const DatasetSplits splits = load_run_data(c);
  auto model =
      build_model(c, splits.train.channels(), splits.train.height(), splits.train.num_classes());
  StateDict state;
  for (const auto& [name, t] : file.tensors) {
    if (name.rfind("optim.", 0) != 0) {
      state[name] = t;
    }
  }
  model->load_state_dict(state);
  const EvalResult r = evaluate(*model, splits.test, channel_stats(splits.train), o.batch_size);
  fmt::print("{} on {} test split ({} images): accuracy {:.2f}%, loss {:.4f}\n", o.checkpoint,
             c.data, splits.test.size(), 100 * r.accuracy, r.loss);
  fmt::print("confusion matrix (rows: true class, columns: predicted class)\n");
  const auto& names = splits.class_names;
  std::size_t w = 5;
  for (const auto& row : r.confusion) {
    for (const std::int64_t v : row) {
      w = std::max(w, fmt::format("{}", v).size() + 1);
    }
  }
  fmt::print("{:>14}", "");
  for (std::size_t k = 0; k < r.confusion.size(); ++k) {
    fmt::print("{:>{}}", k, w);
  }
  fmt::print("\n");
  for (std::size_t t = 0; t < r.confusion.size(); ++t) {
    const std::string label = fmt::format("{} {}", t, t < names.size() ? names[t] : "");
    fmt::print("{:<14.14}", label);
    for (const std::int64_t v : r.confusion[t]) {
      fmt::print("{:>{}}", v, w);
    }
    fmt::print("\n");
  }
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "evaluate a checkpoint: accuracy and confusion matrix");
  auto o = std::make_shared<EvalOptions>();
  cmd->add_option("checkpoint", o->checkpoint, "a checkpoint, e.g. runs/x/best.safetensors")
      ->required();
  cmd->add_option("--data", o->data, "dataset spec (default: the run's own dataset)");
  cmd->add_option("--batch-size", o->batch_size, "images per batch")->capture_default_str();
  cmd->add_option("--threads", o->threads, "threads (0: every core)")->capture_default_str();
  cmd->callback([o] { run_eval(*o); });
}

}  // namespace normlab
