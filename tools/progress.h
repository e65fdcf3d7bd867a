// tools/progress.h: training progress on the terminal or in a log.
// On a terminal (stdout is a tty, CI is unset, and the bar is not switched off) one line is
// redrawn in place with \r: step, loss, accuracy, images/s and ETA. Otherwise a plain line is
// printed every `log_every` steps, so logs of CI runs and of `normlab sweep` stay readable.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace normlab {

class Progress {
 public:
  Progress(bool want_bar, std::int64_t log_every);

  void start_epoch(std::int64_t epoch, std::int64_t epochs, std::int64_t steps, std::int64_t first);
  // After step `step` (0-based within the epoch) with running averages of loss and accuracy.
  void update(std::int64_t step, double loss, double accuracy, std::int64_t images);
  void end_epoch();  // ends the bar's line

 private:
  bool bar_;
  std::int64_t log_every_;
  std::int64_t epoch_ = 0, epochs_ = 0, steps_ = 0, first_ = 0;
  std::int64_t images_ = 0;
  std::chrono::steady_clock::time_point start_;
};

// True when stdout is a terminal and the environment variable CI is not set.
bool stdout_is_interactive();

}  // namespace normlab
