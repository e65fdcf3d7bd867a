// fuzz/fuzz_util.h: what the libFuzzer targets share. A malformed input must end in a
// normlab::Error; any other exception escapes LLVMFuzzerTestOneInput and libFuzzer reports it as a
// crash, as it does for a sanitizer report, a timeout or an allocation over -malloc_limit_mb.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "core/error.h"
#include "core/tensor.h"

namespace normlab::fuzz {

// Stops the run with a message; libFuzzer saves the input that got here.
[[noreturn]] inline void fail(std::string_view what) {
  std::fprintf(stderr, "fuzz: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

inline void check(bool ok, std::string_view what) {
  if (!ok) {
    fail(what);
  }
}

// f() or nothing when it rejects the input with a normlab::Error.
template <class F>
auto accepted(F&& f) -> std::optional<decltype(f())> {
  try {
    return f();
  } catch (const Error&) {
    return std::nullopt;
  }
}

// The input as a file, for parsers that take a path: in /dev/shm when it exists (no disk
// writes), named by the process id so that parallel fuzzing jobs do not collide; removed again.
class InputFile {
 public:
  InputFile(std::span<const std::uint8_t> bytes, std::string_view name) {
    std::error_code ec;
    const std::filesystem::path dir = std::filesystem::is_directory("/dev/shm", ec)
                                          ? std::filesystem::path("/dev/shm")
                                          : std::filesystem::temp_directory_path();
    path_ = dir / ("normlab-fuzz-" + std::to_string(::getpid()) + "-" + std::string(name));
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    check(static_cast<bool>(out), "cannot write the input file " + path_.string());
  }
  ~InputFile() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Same dtype, shape and bytes (bytes, so that NaNs compare equal to themselves).
inline bool same_tensor(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) {
    return false;
  }
  const Tensor ca = a.contiguous();
  const Tensor cb = b.contiguous();
  const auto n = static_cast<std::size_t>(ca.numel()) * dtype_size(ca.dtype());
  return n == 0 || visit_dtype(ca.dtype(), [&]<class T>() {
           return std::memcmp(ca.data<T>().data(), cb.data<T>().data(), n) == 0;
         });
}

}  // namespace normlab::fuzz
