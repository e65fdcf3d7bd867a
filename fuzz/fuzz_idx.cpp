// fuzz/fuzz_idx.cpp: IDX files (datasets/idx.h), plain and gzip-compressed. The input is read as
// given (plain, or gzip when it starts with 1f 8b); an input that is not gzip is also compressed
// and read again, and both reads must agree, so every mutation reaches the IDX parser through
// zlib as well.
#include "datasets/idx.h"
#include "fuzz/fuzz_util.h"
#include "tests/datasets/dataset_files.h"

using namespace normlab;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> input(data, size);
  const fuzz::InputFile file(input, "input-idx3-ubyte");
  const auto plain = fuzz::accepted([&] { return read_idx(file.path()); });
  const bool is_gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  if (!is_gzip) {
    // zlib's fastest level: the IDX parser sees the same bytes, sooner. A zlib failure throws
    // std::runtime_error, which escapes the target: a finding, as it should be.
    const fuzz::InputFile gz(testing::gzip_bytes(input, 1), "input-idx3-ubyte.gz");
    const auto inflated = fuzz::accepted([&] { return read_idx(gz.path()); });
    fuzz::check(plain.has_value() == inflated.has_value(),
                "read_idx accepts the plain file but not its gzip form, or the reverse");
    fuzz::check(!plain || fuzz::same_tensor(*plain, *inflated),
                "read_idx returns different tensors for the plain and the gzip file");
  }
  return 0;
}
