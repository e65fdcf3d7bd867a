// tools/cmd_train.cpp: `normlab train`, the main job: train a model, print the test accuracy.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "core/error.h"
#include "datasets/spec.h"
#include "dist/launch.h"
#include "tools/commands.h"
#include "tools/interrupt.h"
#include "tools/output_dir.h"
#include "tools/trainer.h"

namespace normlab {

DatasetSplits load_run_data(const TrainConfig& c) {
  DatasetLoadOptions lo;
  lo.folder.size = c.image_size;
  return select_subsets(load_dataset(c.data, lo), c);
}

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

// On --resume the run's config.json defines the run; a flag that would change it is an error, not
// silently ignored. Flags that only steer this process (how long, how it reports) are allowed.
void check_resume_flags(const CLI::App& cmd) {
  for (const CLI::Option* opt : cmd.get_options()) {
    const std::vector<std::string>& names = opt->get_lnames();
    if (opt->count() == 0 || names.empty()) {
      continue;
    }
    const std::string& name = names.front();
    if (name != "resume" && name != "epochs" && name != "progress" && name != "stop-after-steps" &&
        name != "help") {
      throw ValueError(fmt::format(
          "train: --{} cannot be combined with --resume (the run's config.json is used; only "
          "--epochs may be changed)",
          name));
    }
  }
}

// A test hook's value from the environment: milliseconds, 0 when unset.
int test_delay_ms(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') {
    return 0;
  }
  char* end = nullptr;
  const long ms = std::strtol(v, &end, 10);
  if (*end != '\0' || ms < 0 || ms > 600000) {
    throw ValueError(fmt::format("train: {}={} is not a delay in milliseconds", name, v));
  }
  return static_cast<int>(ms);
}

// What a rank of a data-parallel run does with an error: one line naming the rank, then the whole
// job ends with status 2 (1 for an internal error). The other ranks would otherwise wait forever
// in their next collective. Checkpoints are written atomically, so the last one stays whole.
template <class F>
void run_as_rank(const Communicator& comm, F&& body) {
  try {
    body();
  } catch (const Error& e) {
    std::fprintf(stderr, "normlab: rank %d: %s\n", comm.rank(), e.what());
    abort_job(2);
  } catch (const std::filesystem::filesystem_error& e) {
    std::fprintf(stderr, "normlab: rank %d: %s\n", comm.rank(), e.what());
    abort_job(2);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "normlab: rank %d: internal error: %s\n", comm.rank(), e.what());
    abort_job(1);
  }
}

// The run `normlab train` was asked for, as rank comm.rank() of comm.size().
void run_train(const CLI::App& cmd, const TrainConfig& flags, const std::string& resume,
               bool detect_anomaly, Communicator& comm) {
  TrainConfig c = flags;
  if (!resume.empty()) {
    check_resume_flags(cmd);
    c = read_run_config(resume);
    c.out = resume;
    if (cmd.count("--epochs") > 0) {
      c.epochs = flags.epochs;
    }
    c.progress = flags.progress;
    c.stop_after_steps = flags.stop_after_steps;  // an interruption is not part of the run
  }
  if (c.out.empty()) {
    c.out = c.default_out();
  }
  c.validate();
  check_flag_conflicts(cmd, c);
  const bool writer = comm.rank() == 0;
  if (writer) {
    prepare_output_dir("train", c.out);
  }
  const DatasetSplits splits = load_run_data(c);
  if (writer) {
    fmt::print(
        "normlab train: {} + {} on {} ({} train / {} test images), batch {}, lr {:.4g}, "
        "{} epochs -> {}\n",
        c.model, c.norm, c.data, splits.train.size(), splits.test.size(), c.batch_size,
        c.effective_lr(), c.epochs, c.out);
  }
  std::fflush(stdout);
  // Under mpirun a signal reaches the ranks at different steps, so it simply ends the job; the
  // last checkpoint is whole (docs/distributed.md).
  std::optional<InterruptHandler> interrupt;
  if (comm.size() == 1) {
    interrupt.emplace();
  }
  const RunControl control{.interrupt = interrupt ? &*interrupt : nullptr,
                           .detect_anomaly = detect_anomaly,
                           .step_delay_ms = test_delay_ms("NORMLAB_TEST_STEP_DELAY_MS"),
                           .checkpoint_delay_ms = test_delay_ms("NORMLAB_TEST_CHECKPOINT_DELAY_MS"),
                           .comm = &comm};
  const TrainResult r = train(c, splits, !resume.empty(), control);
  if (r.interrupted_by != 0) {
    std::fflush(stdout);
    std::fprintf(stderr,
                 "normlab: train: %s: stopped after step %lld, which %s/last.safetensors "
                 "holds; continue with normlab train --resume %s\n",
                 r.interrupted_by == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)",
                 static_cast<long long>(r.steps), r.run_dir.c_str(), r.run_dir.c_str());
    throw CLI::RuntimeError(128 + r.interrupted_by);
  }
  if (!writer) {
    return;
  }
  if (r.stopped) {
    fmt::print(
        "stopped after {} steps as --stop-after-steps asks; continue with "
        "normlab train --resume {}\n",
        c.stop_after_steps, r.run_dir);
    return;
  }
  fmt::print("test accuracy: {:.2f}% (best {:.2f}%), run directory {}\n",
             100 * r.final_test_accuracy, 100 * r.best_test_accuracy, r.run_dir);
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "train a model and report its test accuracy");
  auto config = std::make_shared<TrainConfig>();
  auto resume = std::make_shared<std::string>();
  auto detect_anomaly = std::make_shared<bool>(false);
  add_train_flags(*cmd, *config);
  cmd->add_flag("--detect-anomaly", *detect_anomaly,
                "check every layer's output and every op's gradients on every step and name the "
                "first non-finite value (slower)")
      ->group("Run");
  cmd->add_option("--resume", *resume,
                  "continue the run in this directory from its last checkpoint (its config.json "
                  "is used; only --epochs may be changed)")
      ->group("Run");
  cmd->callback([cmd, config, resume, detect_anomaly] {
    // mpirun -np K: this process is rank r of K (dist/launch.h); otherwise the one process.
    const std::unique_ptr<Communicator> comm = join_job();
    if (comm->size() == 1) {
      run_train(*cmd, *config, *resume, *detect_anomaly, *comm);
      return;
    }
    run_as_rank(*comm, [&] { run_train(*cmd, *config, *resume, *detect_anomaly, *comm); });
  });
}

}  // namespace normlab
