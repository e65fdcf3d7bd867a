#include "tools/checkpointer.h"

#include <algorithm>
#include <chrono>
#include <span>
#include <thread>
#include <utility>

#include "core/atomic_file.h"

namespace normlab {

Checkpointer::Checkpointer(const std::filesystem::path& run, std::string config_json, int pause_ms,
                           bool write_files)
    : run_(run),
      config_json_(std::move(config_json)),
      pause_ms_(pause_ms),
      write_files_(write_files) {
  if (!write_files_) {
    return;
  }
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(run_, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("last.safetensors.tmp.") || name.starts_with("best.safetensors.tmp.")) {
      std::filesystem::remove(entry.path(), ec);
    }
  }
}

TrainingState Checkpointer::resume(Module& model, Optimizer& optimizer) {
  TrainingState st = load_checkpoint(last_path().string(), model, optimizer);
  best_accuracy_ = st.best_test_accuracy;
  last_step_ = st.step;
  return st;
}

void Checkpointer::save_last(Module& model, const Optimizer& optimizer, std::int64_t epochs_done,
                             std::int64_t step) {
  save(last_path(), model, optimizer, epochs_done, step);
  last_step_ = step;
}

void Checkpointer::epoch_done(Module& model, const Optimizer& optimizer, std::int64_t epochs_done,
                              std::int64_t step, double accuracy) {
  if (accuracy > best_accuracy_ || epochs_done == 1) {
    best_accuracy_ = std::max(best_accuracy_, accuracy);
    save(best_path(), model, optimizer, epochs_done, step);
  }
  save(last_path(), model, optimizer, epochs_done, step);
  last_step_ = step;
}

void Checkpointer::save(const std::filesystem::path& path, Module& model,
                        const Optimizer& optimizer, std::int64_t epochs_done,
                        std::int64_t step) const {
  if (!write_files_) {
    return;
  }
  TrainingState st;
  st.epoch = epochs_done;
  st.step = step;
  st.best_test_accuracy = best_accuracy_;
  st.config_json = config_json_;
  if (pause_ms_ <= 0) {
    save_checkpoint(path.string(), model, optimizer, st);
    return;
  }
  const std::vector<std::byte> bytes = checkpoint_to_bytes(path.string(), model, optimizer, st);
  const auto half = std::span(bytes).first(bytes.size() / 2);
  AtomicFile file(path.string());
  file.write(half);
  std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms_));
  file.write(std::span(bytes).subspan(half.size()));
  file.commit();
}

}  // namespace normlab
