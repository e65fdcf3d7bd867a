// fuzz/fuzz_idx.cpp: IDX files (datasets/idx.h), plain and gzip-compressed. The input is read as
// given (plain, or gzip when it starts with 1f 8b); an input that is not gzip is also compressed
// and read again, and both reads must agree, so every mutation reaches the IDX parser through
// zlib as well.
#include <zlib.h>

#include <vector>

#include "datasets/idx.h"
#include "fuzz/fuzz_util.h"

using namespace normlab;

namespace {

std::vector<std::uint8_t> gzip(std::span<const std::uint8_t> raw) {
  z_stream zs{};
  // windowBits 15 + 16: a gzip header and trailer, as gzip(1) writes.
  fuzz::check(deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK,
              "deflateInit2 failed");
  std::vector<std::uint8_t> out(deflateBound(&zs, static_cast<uLong>(raw.size())) + 64);
  zs.next_in = const_cast<Bytef*>(raw.data());
  zs.avail_in = static_cast<uInt>(raw.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  deflateEnd(&zs);
  fuzz::check(rc == Z_STREAM_END, "deflate failed");
  out.resize(zs.total_out);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> input(data, size);
  const fuzz::InputFile file(input, "input-idx3-ubyte");
  const auto plain = fuzz::accepted([&] { return read_idx(file.path()); });
  const bool is_gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  if (!is_gzip) {
    const fuzz::InputFile gz(gzip(input), "input-idx3-ubyte.gz");
    const auto inflated = fuzz::accepted([&] { return read_idx(gz.path()); });
    fuzz::check(plain.has_value() == inflated.has_value(),
                "read_idx accepts the plain file but not its gzip form, or the reverse");
    fuzz::check(!plain || fuzz::same_tensor(*plain, *inflated),
                "read_idx returns different tensors for the plain and the gzip file");
  }
  return 0;
}
