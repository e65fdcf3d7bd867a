// tools/interrupt.h: Ctrl-C (SIGINT) and SIGTERM while training. While an InterruptHandler lives,
// the first such signal only sets a flag: the trainer finishes the step it is in, writes
// last.safetensors and returns, and `normlab train` exits with a message and status 128 + signal.
// The handler is installed with SA_RESETHAND, so a second signal terminates the process at once
// (the checkpoint of the first is then still whole: it is written atomically).
#pragma once

#include <csignal>

namespace normlab {

class InterruptHandler {
 public:
  InterruptHandler();   // installs the handler for SIGINT and SIGTERM
  ~InterruptHandler();  // restores the previous dispositions
  InterruptHandler(const InterruptHandler&) = delete;
  InterruptHandler& operator=(const InterruptHandler&) = delete;

  // The signal that arrived (SIGINT or SIGTERM), or 0.
  int signal() const noexcept;

 private:
  struct sigaction previous_[2] = {};  // of SIGINT and SIGTERM
};

}  // namespace normlab
