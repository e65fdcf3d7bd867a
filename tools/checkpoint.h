// tools/checkpoint.h: one safetensors file (core/safetensors.h) holds everything a run needs to
// resume: the model's parameters and buffers under their state_dict names (PyTorch's names and
// layouts, e.g. OIHW conv weights, so the weights open in the wider ecosystem), the optimizer's
// state ("optim.<parameter>.<key>"), and in "__metadata__" the epoch, step, RNG states
// (Rng::state() strings) and the run's configuration as a JSON string:
//   "normlab.checkpoint": "1"   "epoch": "3"   "step": "1200"   "optimizer": "SGD"
//   "best_test_accuracy": "0.8125"   "config": "{...}"   "rng.<name>": "<Rng::state()>"
// best_test_accuracy is written in the shortest form that reads back to the same double; a file
// without it (written before the key existed) reads as 0.
// Saving is atomic (temporary file, fsync, rename): a crash never leaves a truncated checkpoint.
// Loading validates the whole file, the metadata, the optimizer state and every model name and
// shape before it changes anything, and reports the first problem.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/safetensors.h"
#include "layers/module.h"
#include "layers/optim/optimizer.h"

namespace normlab {

struct TrainingState {
  std::int64_t epoch = 0;
  std::int64_t step = 0;
  double best_test_accuracy = 0.0;  // the best test accuracy of the epochs so far, in [0, 1]
  std::map<std::string, std::string> rng_states = {};  // name → Rng::state(): "init", "loader"
  std::string config_json = "{}";                      // the run's configuration
};

// ValueError for a model name starting with "optim." (it would clash with the optimizer's state),
// a config that is not valid JSON, a negative epoch or step, or a best accuracy outside [0, 1];
// IoError if the file cannot be written.
void save_checkpoint(const std::string& path, Module& model, const Optimizer& optimizer,
                     const TrainingState& state);

// Loads the model's parameters and buffers (converted to their dtypes) and the optimizer's state,
// and returns the training state. A file that is truncated, corrupted or not a normlab checkpoint
// is an IoError naming the file; a model or optimizer mismatch is a ShapeError or ValueError naming
// the first mismatching tensor. On any error the model and the optimizer are unchanged.
// The bytes save_checkpoint writes, for a caller that writes them itself.
std::vector<std::byte> checkpoint_to_bytes(const std::string& path, Module& model,
                                           const Optimizer& optimizer, const TrainingState& state);

TrainingState load_checkpoint(const std::string& path, Module& model, Optimizer& optimizer);
// The same for a checkpoint already read (read_safetensors or safetensors_from_bytes); `path`
// names it in errors.
TrainingState load_checkpoint(const Safetensors& file, const std::string& path, Module& model,
                              Optimizer& optimizer);

}  // namespace normlab
