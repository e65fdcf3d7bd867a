#include "tools/interrupt.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace normlab {

namespace {

// The one piece of global mutable state in normlab, and the only one a signal handler can reach:
// a handler receives no context pointer, and a volatile std::sig_atomic_t is the only object it
// may write with defined behaviour. It holds the number of the first signal that arrived.
volatile std::sig_atomic_t g_interrupt_signal =
    0;  // NOLINT(cppcoreguidelines-avoid-non-const-global-variables)

void on_signal(int signum) {
  if (g_interrupt_signal == 0) {
    g_interrupt_signal = signum;
  }
}

constexpr int kSignals[2] = {SIGINT, SIGTERM};

}  // namespace

InterruptHandler::InterruptHandler() {
  g_interrupt_signal = 0;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;  // a second signal takes the default action: end the process
  for (int i = 0; i < 2; ++i) {
    if (sigaction(kSignals[i], &sa, &previous_[i]) != 0) {
      throw IoError(
          fmt::format("train: cannot install a signal handler: {}", std::strerror(errno)));
    }
  }
}

InterruptHandler::~InterruptHandler() {
  for (int i = 0; i < 2; ++i) {
    sigaction(kSignals[i], &previous_[i], nullptr);
  }
}

int InterruptHandler::signal() const noexcept {
  return g_interrupt_signal;
}

}  // namespace normlab
