// tools/cmd_train.cpp: `normlab train`, the main job: train a model, print the test accuracy.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "core/error.h"
#include "datasets/spec.h"
#include "tools/commands.h"
#include "tools/trainer.h"

namespace normlab {

namespace {

TrainConfig read_run_config(const std::string& run_dir) {
  const std::string path = run_dir + "/config.json";
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw IoError(fmt::format("train: cannot resume: {} not found", path));
  }
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  return parse_train_config(text, path);
}

}  // namespace

DatasetSplits load_run_data(const TrainConfig& c) {
  DatasetLoadOptions lo;
  lo.folder.size = c.image_size;
  return select_subsets(load_dataset(c.data, lo), c);
}

void add_train_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "train a model and report its test accuracy");
  auto config = std::make_shared<TrainConfig>();
  auto resume = std::make_shared<std::string>();
  add_train_flags(*cmd, *config);
  cmd->add_option("--resume", *resume,
                  "continue the run in this directory from its last checkpoint (its config.json "
                  "is used; only --epochs may be changed)")
      ->group("Run");
  cmd->callback([cmd, config, resume] {
    TrainConfig c = *config;
    if (!resume->empty()) {
      c = read_run_config(*resume);
      c.out = *resume;
      if (cmd->count("--epochs") > 0) {
        c.epochs = config->epochs;
      }
      c.progress = config->progress;
      c.stop_after_steps = config->stop_after_steps;  // an interruption is not part of the run
    }
    if (c.out.empty()) {
      c.out = c.default_out();
    }
    c.validate();
    const DatasetSplits splits = load_run_data(c);
    fmt::print(
        "normlab train: {} + {} on {} ({} train / {} test images), batch {}, lr {:.4g}, "
        "{} epochs -> {}\n",
        c.model, c.norm, c.data, splits.train.size(), splits.test.size(), c.batch_size,
        c.effective_lr(), c.epochs, c.out);
    std::fflush(stdout);
    const TrainResult r = train(c, splits, !resume->empty());
    if (r.stopped) {
      fmt::print(
          "stopped after {} steps as --stop-after-steps asks; continue with "
          "normlab train --resume {}\n",
          c.stop_after_steps, r.run_dir);
      return;
    }
    fmt::print("test accuracy: {:.2f}% (best {:.2f}%), run directory {}\n",
               100 * r.final_test_accuracy, 100 * r.best_test_accuracy, r.run_dir);
  });
}

}  // namespace normlab
