// tools/checkpointer.h: the checkpoints of a run directory. last.safetensors is written at every
// epoch's end and every checkpoint_every steps; best.safetensors at the end of each epoch whose
// test accuracy beats the best so far (and always after the first epoch). Every checkpoint
// carries the best accuracy so far, so a resumed run knows it without reading any CSV file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "layers/module.h"
#include "layers/optim/optimizer.h"
#include "tools/checkpoint.h"

namespace normlab {

class Checkpointer {
 public:
  // config_json: the run's TrainConfig, stored in every checkpoint. Removes the temporary files
  // of checkpoints a killed process left half-written (core/atomic_file.h). pause_ms > 0 is a
  // test hook: every checkpoint then pauses halfway through writing its temporary file.
  // write_files = false (ranks other than 0 of a data-parallel run) keeps the bookkeeping and
  // writes and removes nothing.
  Checkpointer(const std::filesystem::path& run, std::string config_json, int pause_ms = 0,
               bool write_files = true);

  // Loads last.safetensors into model and optimizer and takes over its best accuracy.
  TrainingState resume(Module& model, Optimizer& optimizer);
  // last.safetensors at `epochs_done` finished epochs and `step` finished steps.
  void save_last(Module& model, const Optimizer& optimizer, std::int64_t epochs_done,
                 std::int64_t step);
  // After the evaluation that ends epoch `epochs_done` (1-based) with test accuracy `accuracy`.
  void epoch_done(Module& model, const Optimizer& optimizer, std::int64_t epochs_done,
                  std::int64_t step, double accuracy);

  double best_accuracy() const noexcept { return best_accuracy_; }
  // The step last.safetensors holds (written or resumed by this object), or -1.
  std::int64_t last_step() const noexcept { return last_step_; }
  std::filesystem::path last_path() const { return run_ / "last.safetensors"; }
  std::filesystem::path best_path() const { return run_ / "best.safetensors"; }

 private:
  void save(const std::filesystem::path& path, Module& model, const Optimizer& optimizer,
            std::int64_t epochs_done, std::int64_t step) const;

  std::filesystem::path run_;
  std::string config_json_;
  double best_accuracy_ = 0.0;
  std::int64_t last_step_ = -1;
  int pause_ms_ = 0;
  bool write_files_ = true;
};

}  // namespace normlab
