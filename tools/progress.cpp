#include "tools/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace normlab {

bool stdout_is_interactive() {
  return isatty(STDOUT_FILENO) == 1 && std::getenv("CI") == nullptr;
}

Progress::Progress(bool want_bar, std::int64_t log_every)
    : bar_(want_bar && stdout_is_interactive()), log_every_(log_every) {}

void Progress::start_epoch(std::int64_t epoch, std::int64_t epochs, std::int64_t steps,
                           std::int64_t first) {
  epoch_ = epoch;
  epochs_ = epochs;
  steps_ = steps;
  first_ = first;
  images_ = 0;
  start_ = std::chrono::steady_clock::now();
}

void Progress::update(std::int64_t step, double loss, double accuracy, std::int64_t images) {
  images_ += images;
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = secs > 0 ? static_cast<double>(images_) / secs : 0.0;
  const std::int64_t done = step + 1 - first_;
  const double eta =
      done > 0 ? secs / static_cast<double>(done) * static_cast<double>(steps_ - step - 1) : 0.0;
  if (bar_) {
    constexpr int kWidth = 24;
    const int filled = static_cast<int>(kWidth * (step + 1) / std::max<std::int64_t>(steps_, 1));
    fmt::print("\repoch {}/{} [{:<{}}] {}/{} loss {:.4f} acc {:.2f}% {:.0f} img/s ETA {:.0f}s ",
               epoch_ + 1, epochs_, std::string(static_cast<std::size_t>(filled), '#'), kWidth,
               step + 1, steps_, loss, 100.0 * accuracy, rate, eta);
    std::fflush(stdout);
  } else if ((step + 1) % log_every_ == 0 || step + 1 == steps_) {
    fmt::print("epoch {}/{} step {}/{} loss {:.4f} acc {:.2f}% {:.0f} img/s ETA {:.0f}s\n",
               epoch_ + 1, epochs_, step + 1, steps_, loss, 100.0 * accuracy, rate, eta);
    std::fflush(stdout);
  }
}

void Progress::end_epoch() {
  if (bar_) {
    fmt::print("\n");
  }
}

}  // namespace normlab
