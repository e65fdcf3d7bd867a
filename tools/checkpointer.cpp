#include "tools/checkpointer.h"

#include <algorithm>
#include <utility>

namespace normlab {

Checkpointer::Checkpointer(const std::filesystem::path& run, std::string config_json)
    : run_(run), config_json_(std::move(config_json)) {}

TrainingState Checkpointer::resume(Module& model, Optimizer& optimizer) {
  TrainingState st = load_checkpoint(last_path().string(), model, optimizer);
  best_accuracy_ = st.best_test_accuracy;
  return st;
}

void Checkpointer::save_last(Module& model, const Optimizer& optimizer, std::int64_t epochs_done,
                             std::int64_t step) {
  save(last_path(), model, optimizer, epochs_done, step);
}

void Checkpointer::epoch_done(Module& model, const Optimizer& optimizer, std::int64_t epochs_done,
                              std::int64_t step, double accuracy) {
  if (accuracy > best_accuracy_ || epochs_done == 1) {
    best_accuracy_ = std::max(best_accuracy_, accuracy);
    save(best_path(), model, optimizer, epochs_done, step);
  }
  save(last_path(), model, optimizer, epochs_done, step);
}

void Checkpointer::save(const std::filesystem::path& path, Module& model,
                        const Optimizer& optimizer, std::int64_t epochs_done,
                        std::int64_t step) const {
  TrainingState st;
  st.epoch = epochs_done;
  st.step = step;
  st.best_test_accuracy = best_accuracy_;
  st.config_json = config_json_;
  save_checkpoint(path.string(), model, optimizer, st);
}

}  // namespace normlab
