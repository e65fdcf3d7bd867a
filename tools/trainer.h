// tools/trainer.h: the training loop behind `normlab train`, and evaluation.
// A run directory holds:
//   config.json            the TrainConfig (also inside every checkpoint)
//   metrics_steps.csv      step, epoch, lr, loss, accuracy, images/s (every log_every steps)
//   metrics_epochs.csv     epoch, lr, train loss/accuracy, test loss/accuracy, seconds
//   norm_stats.csv         the study of normalization gradients (tools/norm_monitor.h)
//   param_stats.csv        per parameter: ‖w‖, ‖∂L/∂w‖, ‖Δw‖/‖w‖ of the step
//   landscape.csv          with --landscape-every: loss and gradient along −∇L (tools/landscape.h)
//   last.safetensors       the last checkpoint (epoch ends, and every checkpoint_every steps)
//   best.safetensors       the checkpoint with the best test accuracy
//   *.png                  plots, from tools/plot_run.py
// Every batch is a pure function of (seed, epoch, index) (datasets/loader.h), so a run resumed
// from a checkpoint continues exactly as the uninterrupted run would have, for the same thread
// count.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "layers/module.h"
#include "tools/run_recorder.h"
#include "tools/train_config.h"

namespace normlab {

struct EvalResult {
  double loss = 0.0;
  double accuracy = 0.0;
  std::vector<std::vector<std::int64_t>> confusion;  // [true class][predicted class]
};

// Evaluates model (switched to eval mode) on every image of d, normalized with stats.
EvalResult evaluate(Module& model, const Dataset& d, const ChannelStats& stats,
                    std::int64_t batch_size);

struct TrainResult {
  std::vector<EpochRecord> epochs;  // the epochs this call ran
  double final_test_accuracy = 0.0;
  double best_test_accuracy = 0.0;
  std::string run_dir;
  bool stopped = false;    // --stop-after-steps ended the run before its last epoch
  int interrupted_by = 0;  // SIGINT or SIGTERM ended it (after a step and its checkpoint)
  std::int64_t steps = 0;  // steps done when the call returned
};

// How this process runs the training, beyond what the run itself is (TrainConfig).
struct RunControl {
  const class InterruptHandler* interrupt = nullptr;  // checked after every step
  bool detect_anomaly = false;                        // tools/anomaly.h on every step
  // Test hooks, from the environment of `normlab train` (tests/tools/test_crash.sh):
  // NORMLAB_TEST_STEP_DELAY_MS sleeps after every step, NORMLAB_TEST_CHECKPOINT_DELAY_MS halfway
  // through writing every checkpoint, so a test can kill the process at those points.
  int step_delay_ms = 0;
  int checkpoint_delay_ms = 0;
  // The ranks of a data-parallel run (tools/data_parallel.h); null or one rank: this process
  // alone. With several, each rank trains on its shard of every batch, only rank 0 writes the run
  // directory, and `interrupt` must be null (the ranks would stop at different steps).
  class Communicator* comm = nullptr;
};

// The model a config describes, on data with the given channels and size.
std::unique_ptr<Module> build_model(const TrainConfig& c, std::int64_t in_channels,
                                    std::int64_t image_size, std::int64_t num_classes,
                                    class NormMonitor* monitor = nullptr,
                                    class Communicator* comm = nullptr);

// Applies the subset options of c to the loaded splits.
DatasetSplits select_subsets(DatasetSplits splits, const TrainConfig& c);

// Trains as c says on the given splits. resume: continue from <run>/last.safetensors. A step whose
// loss is not finite stops the run with a ValueError naming the step, before its update, so
// last.safetensors stays the last good checkpoint.
TrainResult train(const TrainConfig& c, const DatasetSplits& splits, bool resume,
                  const RunControl& control = {});

}  // namespace normlab
