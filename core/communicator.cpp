#include "core/communicator.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"

namespace normlab {

void SingleProcessCommunicator::all_gather(std::span<const double> in, std::span<double> out) {
  if (out.size() != in.size()) {
    throw ShapeError(
        fmt::format("all_gather: {} values out for {} in on 1 rank", out.size(), in.size()));
  }
  std::copy(in.begin(), in.end(), out.begin());
}

}  // namespace normlab
