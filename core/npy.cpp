// core/npy.cpp: the .npy reader and writer (numpy.lib.format, versions 1.0, 2.0 and 3.0).
// Reading is two-phase: the preamble and the header dict are read and validated, the data size is
// checked against the bytes that are really there, and only then is the tensor allocated.
#include "core/npy.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>

#include "core/error.h"

namespace normlab {

static_assert(std::endian::native == std::endian::little,
              "npy: the reader and writer assume a little-endian host");

namespace {

constexpr std::string_view kMagic = "\x93NUMPY";
constexpr std::size_t kPreambleV1 = 10;  // magic (6) + version (2) + uint16 header length
constexpr std::size_t kPreambleV2 = 12;  // magic (6) + version (2) + uint32 header length
constexpr std::uint64_t kMaxHeaderBytes = 1u << 20;  // numpy's own headers are < 10 kB
constexpr std::size_t kAlign = 64;

[[noreturn]] void fail(std::string_view name, const std::string& reason) {
  throw IoError(fmt::format("npy: {}: {}", name, reason));
}

struct Preamble {
  int major = 0;
  std::size_t header_offset = 0;  // first byte of the dict
  std::uint64_t header_len = 0;
};

// prefix: the first bytes of the file (up to 12); total: the size of the whole file.
Preamble parse_preamble(std::span<const std::byte> prefix, std::uint64_t total,
                        std::string_view name) {
  const auto byte_at = [&](std::size_t i) { return std::to_integer<std::uint8_t>(prefix[i]); };
  if (prefix.size() < kPreambleV1) {
    fail(name, fmt::format("file is {} bytes, too short for a .npy preamble (10 bytes)", total));
  }
  for (std::size_t i = 0; i < kMagic.size(); ++i) {
    if (byte_at(i) != static_cast<std::uint8_t>(kMagic[i])) {
      fail(name, fmt::format("bad magic at byte {} (expected \\x93NUMPY)", i));
    }
  }
  Preamble p;
  p.major = byte_at(6);
  const int minor = byte_at(7);
  if (p.major < 1 || p.major > 3 || minor != 0) {
    fail(name, fmt::format("unsupported format version {}.{} at byte 6 (1.0, 2.0, 3.0 are known)",
                           p.major, minor));
  }
  if (p.major == 1) {
    p.header_len = byte_at(8) | (std::uint64_t{byte_at(9)} << 8);
    p.header_offset = kPreambleV1;
  } else {
    if (prefix.size() < kPreambleV2) {
      fail(name, fmt::format("file is {} bytes, too short for a version {} preamble (12 bytes)",
                             total, p.major));
    }
    p.header_len = byte_at(8) | (std::uint64_t{byte_at(9)} << 8) |
                   (std::uint64_t{byte_at(10)} << 16) | (std::uint64_t{byte_at(11)} << 24);
    p.header_offset = kPreambleV2;
  }
  if (p.header_len > kMaxHeaderBytes) {
    fail(name, fmt::format("header length {} at byte 8 exceeds the limit of {} bytes", p.header_len,
                           kMaxHeaderBytes));
  }
  if (p.header_offset + p.header_len > total) {
    fail(name, fmt::format("header of {} bytes at byte {} runs past the end of the file ({} bytes)",
                           p.header_len, p.header_offset, total));
  }
  return p;
}

struct Header {
  DType dtype = DType::f32;
  Shape shape;
};

// A recursive-descent reader for the one dict literal numpy writes:
//   {'descr': <str>, 'fortran_order': <True|False>, 'shape': (<int>, ...), }
// Every key must appear exactly once. Errors carry the byte offset in the file.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, std::size_t base, std::string_view name)
      : s_(text), base_(base), name_(name) {}

  Header parse() {
    std::optional<std::string> descr;
    std::optional<bool> fortran;
    std::optional<Shape> shape;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') {
        ++pos_;
        break;
      }
      const std::string key = parse_string();
      expect(':');
      if (key == "descr" && !descr) {
        descr = parse_string();
      } else if (key == "fortran_order" && !fortran) {
        fortran = parse_bool();
      } else if (key == "shape" && !shape) {
        shape = parse_tuple();
      } else {
        error(fmt::format("unexpected or repeated key '{}' in the header dict", key));
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
      } else if (peek() != '}') {
        error("expected ',' or '}' in the header dict");
      }
    }
    skip_space();
    if (pos_ != s_.size()) {
      error("unexpected characters after the header dict");
    }
    if (!descr || !fortran || !shape) {
      fail(name_, "header dict lacks one of 'descr', 'fortran_order', 'shape'");
    }
    if (*fortran) {
      fail(name_, "fortran_order True is not supported (write the array in C order)");
    }
    return {dtype_from_descr(*descr), std::move(*shape)};
  }

 private:
  [[noreturn]] void error(const std::string& what) const {
    fail(name_, fmt::format("malformed header at byte {}: {}", base_ + pos_, what));
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t')) {
      ++pos_;
    }
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) {
      error(fmt::format("expected '{}'", c));
    }
    ++pos_;
  }
  std::string parse_string() {
    skip_space();
    const char quote = peek();
    if (quote != '\'' && quote != '"') {
      error("expected a quoted string");
    }
    const std::size_t end = s_.find(quote, pos_ + 1);
    if (end == std::string_view::npos) {
      error("unterminated string");
    }
    std::string out(s_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return out;
  }
  bool parse_bool() {
    skip_space();
    for (const auto& [word, value] : {std::pair{"True", true}, std::pair{"False", false}}) {
      const std::string_view w = word;
      if (s_.substr(pos_, w.size()) == w) {
        pos_ += w.size();
        return value;
      }
    }
    error("expected True or False");
  }
  std::int64_t parse_int() {
    skip_space();
    if (peek() < '0' || peek() > '9') {
      error("expected a non-negative integer");
    }
    std::int64_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      const int digit = peek() - '0';
      if (v > (std::numeric_limits<std::int64_t>::max() - digit) / 10) {
        error("integer too large");
      }
      v = v * 10 + digit;
      ++pos_;
    }
    if (peek() == 'L') {  // Python 2 long suffix, written by old numpy versions
      ++pos_;
    }
    return v;
  }
  Shape parse_tuple() {
    expect('(');
    Shape shape;
    while (true) {
      skip_space();
      if (peek() == ')') {
        ++pos_;
        break;
      }
      shape.push_back(parse_int());
      skip_space();
      if (peek() == ',') {
        ++pos_;
      } else if (peek() != ')') {
        error("expected ',' or ')' in the shape tuple");
      }
    }
    return shape;
  }
  DType dtype_from_descr(const std::string& d) const {
    if (d == "<f4") {
      return DType::f32;
    }
    if (d == "<f8") {
      return DType::f64;
    }
    if (d == "|u1" || d == "<u1") {
      return DType::u8;
    }
    if (d == "<i4") {
      return DType::i32;
    }
    if (d == "<i8") {
      return DType::i64;
    }
    if (!d.empty() && d[0] == '>') {
      fail(name_, fmt::format("big-endian dtype '{}' is not supported", d));
    }
    fail(name_,
         fmt::format("unsupported dtype '{}' (supported: '<f4', '<f8', '|u1', '<i4', '<i8')", d));
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  std::size_t base_;
  std::string_view name_;
};

// Number of data bytes the header promises; IoError on overflow.
std::uint64_t data_bytes(const Header& h, std::string_view name) {
  std::uint64_t n = dtype_size(h.dtype);
  constexpr std::uint64_t kLimit = std::uint64_t{1} << 62;
  for (const std::int64_t d : h.shape) {
    const auto ud = static_cast<std::uint64_t>(d);
    if (ud != 0 && n > kLimit / ud) {
      fail(name, fmt::format("shape {} is too large", to_string(h.shape)));
    }
    n *= ud;
  }
  return n;
}

// Validates preamble + header (all inside `head`, which starts at byte 0) against a file of
// `total` bytes; returns the header and the offset where data starts.
std::pair<Header, std::size_t> parse_head(std::span<const std::byte> head, const Preamble& p,
                                          std::uint64_t total, std::string_view name) {
  const std::string_view text(reinterpret_cast<const char*>(head.data()) + p.header_offset,
                              static_cast<std::size_t>(p.header_len));
  Header h = HeaderParser(text, p.header_offset, name).parse();
  const std::size_t data_offset = p.header_offset + static_cast<std::size_t>(p.header_len);
  const std::uint64_t need = data_bytes(h, name);
  const std::uint64_t have = total - data_offset;
  if (need != have) {
    fail(name, fmt::format("shape {} of {} needs {} data bytes from byte {}, but the file holds {}",
                           to_string(h.shape), dtype_name(h.dtype), need, data_offset, have));
  }
  return {std::move(h), data_offset};
}

std::string header_text(const Tensor& t) {
  std::string descr;
  switch (t.dtype()) {
    case DType::f32:
      descr = "<f4";
      break;
    case DType::f64:
      descr = "<f8";
      break;
    case DType::u8:
      descr = "|u1";
      break;
    case DType::i32:
      descr = "<i4";
      break;
    case DType::i64:
      descr = "<i8";
      break;
  }
  std::string shape = "(";
  for (std::size_t i = 0; i < t.shape().size(); ++i) {
    shape += fmt::format("{}{}", i > 0 ? ", " : "", t.shape()[i]);
  }
  shape += t.shape().size() == 1 ? ",)" : ")";
  return fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descr, shape);
}

}  // namespace

std::vector<std::byte> npy_to_bytes(const Tensor& t) {
  check_defined("write_npy", t, "t");
  const Tensor c = t.contiguous();
  std::string header = header_text(c);
  // Pad with spaces so that preamble + header + '\n' is a multiple of 64 bytes.
  std::size_t preamble = kPreambleV1;
  if (header.size() + 1 + kPreambleV1 > 65535) {
    preamble = kPreambleV2;
  }
  const std::size_t unpadded = preamble + header.size() + 1;
  header.append((kAlign - unpadded % kAlign) % kAlign, ' ');
  header.push_back('\n');
  const std::size_t nbytes = static_cast<std::size_t>(c.numel()) * dtype_size(c.dtype());
  std::vector<std::byte> out(preamble + header.size() + nbytes);
  std::memcpy(out.data(), kMagic.data(), kMagic.size());
  out[6] = std::byte{static_cast<unsigned char>(preamble == kPreambleV1 ? 1 : 2)};
  out[7] = std::byte{0};
  const std::size_t len = header.size();
  for (std::size_t i = 0; i + 8 < preamble; ++i) {
    out[8 + i] = std::byte{static_cast<unsigned char>((len >> (8 * i)) & 0xff)};
  }
  std::memcpy(out.data() + preamble, header.data(), header.size());
  if (nbytes > 0) {
    visit_dtype(c.dtype(), [&]<class T>() {
      std::memcpy(out.data() + preamble + header.size(), c.data<T>().data(), nbytes);
    });
  }
  return out;
}

Tensor npy_from_bytes(std::span<const std::byte> bytes, std::string_view name) {
  const Preamble p =
      parse_preamble(bytes.first(std::min(bytes.size(), kPreambleV2)), bytes.size(), name);
  const auto [h, offset] = parse_head(bytes, p, bytes.size(), name);
  const std::size_t data_offset = offset;  // a plain variable: clang 14 cannot capture a binding
  Tensor t = Tensor::empty(h.shape, h.dtype);
  const std::size_t nbytes = bytes.size() - data_offset;
  const std::byte* src = bytes.data() + data_offset;  // clang 14 cannot capture a binding
  if (nbytes > 0) {
    visit_dtype(t.dtype(), [&]<class T>() { std::memcpy(t.data<T>().data(), src, nbytes); });
  }
  return t;
}

Tensor read_npy(const std::string& path) {
  std::error_code ec;
  const std::uint64_t total = std::filesystem::file_size(path, ec);
  if (ec) {
    fail(path, fmt::format("cannot open: {}", ec.message()));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    fail(path, "cannot open for reading");
  }
  const auto read_at = [&](std::byte* dst, std::size_t offset, std::size_t n) {
    in.seekg(static_cast<std::streamoff>(offset));
    in.read(reinterpret_cast<char*>(dst), static_cast<std::streamsize>(n));
    if (static_cast<std::size_t>(in.gcount()) != n) {
      fail(path, fmt::format("read of {} bytes at byte {} failed", n, offset));
    }
  };
  // Phase 1: preamble and header only (both bounded by kMaxHeaderBytes).
  std::vector<std::byte> head(
      static_cast<std::size_t>(std::min<std::uint64_t>(total, kPreambleV2)));
  read_at(head.data(), 0, head.size());
  const Preamble p = parse_preamble(head, total, path);
  head.resize(p.header_offset + static_cast<std::size_t>(p.header_len));
  read_at(head.data(), 0, head.size());
  const auto [h, offset] = parse_head(head, p, total, path);
  const std::size_t data_offset = offset;  // a plain variable: clang 14 cannot capture a binding
  // Phase 2: the size is proven to match the file; allocate and read the data in place.
  Tensor t = Tensor::empty(h.shape, h.dtype);
  const auto nbytes = static_cast<std::size_t>(total - data_offset);
  const std::size_t at = data_offset;  // clang 14 cannot capture a structured binding
  if (nbytes > 0) {
    visit_dtype(t.dtype(), [&]<class T>() {
      read_at(reinterpret_cast<std::byte*>(t.data<T>().data()), at, nbytes);
    });
  }
  return t;
}

void write_npy(const std::string& path, const Tensor& t) {
  const std::vector<std::byte> bytes = npy_to_bytes(t);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) {
      fail(path, fmt::format("cannot open {} for writing", tmp));
    }
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      fail(path, fmt::format("write of {} bytes to {} failed", bytes.size(), tmp));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    const std::string reason = ec.message();
    std::filesystem::remove(tmp, ec);
    fail(path, fmt::format("cannot rename {} to it: {}", tmp, reason));
  }
}

}  // namespace normlab
