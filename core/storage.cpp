#include "core/storage.h"

#include <fmt/format.h>

#include <cstdlib>

#include "core/error.h"

namespace normlab {

namespace {
constexpr std::size_t kAlignment = 64;  // one cache line; also what AVX-512 loads like
}

void Storage::Free::operator()(std::byte* p) const noexcept {
  std::free(p);
}

Storage::Storage(std::size_t nbytes) : nbytes_(nbytes) {
  // aligned_alloc needs a size that is a multiple of the alignment, and never 0.
  const std::size_t rounded = (nbytes + kAlignment - 1) / kAlignment * kAlignment;
  void* p = std::aligned_alloc(kAlignment, rounded == 0 ? kAlignment : rounded);
  if (p == nullptr) {
    throw ValueError(fmt::format("storage: cannot allocate {} bytes", nbytes));
  }
  data_.reset(static_cast<std::byte*>(p));
}

}  // namespace normlab
