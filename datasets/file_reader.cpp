#include "datasets/file_reader.h"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>

#include "core/error.h"

namespace normlab {

namespace {

struct GzClose {
  void operator()(gzFile_s* f) const noexcept { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzClose>;

void check_regular_file(std::string_view op, const std::filesystem::path& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) {
    throw IoError(fmt::format("{}: cannot open {}: no such file", op, path.string()));
  }
  if (!std::filesystem::is_regular_file(status)) {
    throw IoError(fmt::format("{}: cannot open {}: not a regular file", op, path.string()));
  }
}

GzFile open_gz(std::string_view op, const std::filesystem::path& path) {
  check_regular_file(op, path);
  errno = 0;
  GzFile f(gzopen(path.c_str(), "rb"));
  if (!f) {
    throw IoError(fmt::format("{}: cannot open {}: {}", op, path.string(),
                              errno != 0 ? std::strerror(errno) : "zlib could not open it"));
  }
  gzbuffer(f.get(), 1u << 18);
  return f;
}

// Reads up to n bytes; returns how many were read. A zlib error (corrupt or truncated stream) is
// an IoError naming the offset in the inflated stream where it happened.
std::size_t gz_read_some(std::string_view op, const std::filesystem::path& path, gzFile_s* f,
                         std::uint8_t* out, std::size_t n, std::uint64_t offset) {
  std::size_t done = 0;
  while (done < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - done, 1u << 30));
    const int got = gzread(f, out + done, chunk);
    if (got < 0 || (got == 0 && !gzeof(f))) {
      int errnum = 0;
      const char* msg = gzerror(f, &errnum);
      throw IoError(fmt::format("{}: {}: corrupt compressed data after {} bytes: {}", op,
                                path.string(), offset + done, msg));
    }
    if (got == 0) {
      break;
    }
    done += static_cast<std::size_t>(got);
  }
  // zlib reports a stream cut short only through gzerror once the input ran out.
  int errnum = Z_OK;
  const char* msg = gzerror(f, &errnum);
  if (errnum != Z_OK && errnum != Z_STREAM_END) {
    throw IoError(fmt::format("{}: {}: corrupt compressed data after {} bytes: {}", op,
                              path.string(), offset + done, msg));
  }
  return done;
}

// Parses an octal (or GNU base-256) numeric field of a tar header.
std::uint64_t tar_number(const std::uint8_t* field, std::size_t len, bool* ok) {
  std::uint64_t v = 0;
  if ((field[0] & 0x80u) != 0) {
    for (std::size_t i = 1; i < len; ++i) {
      v = (v << 8) | field[i];
    }
    *ok = (field[0] & 0x7fu) == 0 && len >= 4 && field[1] == 0 && field[2] == 0 && field[3] == 0;
    return v;
  }
  std::size_t i = 0;
  while (i < len && field[i] == ' ') {
    ++i;
  }
  bool any = false;
  for (; i < len && field[i] >= '0' && field[i] <= '7'; ++i) {
    v = v * 8 + (field[i] - '0');
    any = true;
  }
  for (; i < len; ++i) {
    if (field[i] != ' ' && field[i] != '\0') {
      *ok = false;
      return 0;
    }
  }
  *ok = any;
  return v;
}

std::string tar_string(const std::uint8_t* field, std::size_t len) {
  const auto* end = std::find(field, field + len, std::uint8_t{0});
  return {reinterpret_cast<const char*>(field), reinterpret_cast<const char*>(end)};
}

// pax extended header records: "<length> <key>=<value>\n"; returns the value of "path" or "".
std::string pax_path(const std::vector<std::uint8_t>& data) {
  const std::string text(data.begin(), data.end());
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t space = text.find(' ', pos);
    if (space == std::string::npos) {
      break;
    }
    const std::size_t len = std::strtoull(text.c_str() + pos, nullptr, 10);
    if (len == 0 || pos + len > text.size()) {
      break;
    }
    const std::string record = text.substr(space + 1, pos + len - space - 2);
    if (record.rfind("path=", 0) == 0) {
      return record.substr(5);
    }
    pos += len;
  }
  return {};
}

}  // namespace

std::vector<std::uint8_t> read_file_bytes(std::string_view op, const std::filesystem::path& path) {
  check_regular_file(op, path);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw IoError(fmt::format("{}: cannot open {}: {}", op, path.string(), std::strerror(errno)));
  }
  const auto size = std::filesystem::file_size(path);
  std::vector<std::uint8_t> bytes(size);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
  if (static_cast<std::uintmax_t>(in.gcount()) != size) {
    throw IoError(
        fmt::format("{}: {}: read failed at byte {} of {}", op, path.string(), in.gcount(), size));
  }
  return bytes;
}

std::vector<std::uint8_t> read_maybe_gzip(std::string_view op, const std::filesystem::path& path) {
  GzFile f = open_gz(op, path);
  std::vector<std::uint8_t> bytes;
  // The first chunk fits a plain file whole (one more byte sees the end); gzip grows by doubling.
  std::error_code ec;
  const std::uintmax_t file_size = std::filesystem::file_size(path, ec);
  std::size_t chunk =
      ec ? std::size_t{1} << 20
         : static_cast<std::size_t>(std::clamp<std::uintmax_t>(file_size + 1, 4096, 1u << 20));
  for (;;) {
    const std::size_t old = bytes.size();
    bytes.resize(old + chunk);
    const std::size_t got = gz_read_some(op, path, f.get(), bytes.data() + old, chunk, old);
    bytes.resize(old + got);
    if (got < chunk) {
      break;
    }
    chunk = std::min<std::size_t>(chunk * 2, 64u << 20);
  }
  return bytes;
}

std::vector<TarEntry> read_tar(std::string_view op, const std::filesystem::path& path,
                               const std::function<bool(std::string_view name)>& keep) {
  constexpr std::size_t kBlock = 512;
  constexpr std::size_t kChunk = std::size_t{1} << 20;
  // ustar's 11 octal digits hold up to 8 GiB; GNU base-256 sizes beyond 2^48 are corrupt headers
  // (and near 2^64 would overflow the padding arithmetic).
  constexpr std::uint64_t kMaxTarEntry = std::uint64_t{1} << 48;
  GzFile f = open_gz(op, path);
  std::vector<TarEntry> entries;
  std::array<std::uint8_t, kBlock> h{};
  std::vector<std::uint8_t> data;
  std::string next_name;  // from a GNU 'L' or pax 'x' header, for the entry that follows
  std::uint64_t offset = 0;
  for (;;) {
    const std::size_t got = gz_read_some(op, path, f.get(), h.data(), kBlock, offset);
    if (got == 0 && offset > 0) {
      break;  // end of stream without the two zero blocks: GNU tar accepts it too
    }
    if (got != kBlock) {
      throw IoError(fmt::format("{}: {}: not a tar archive: header at byte {} is truncated", op,
                                path.string(), offset));
    }
    if (std::all_of(h.begin(), h.end(), [](std::uint8_t b) { return b == 0; })) {
      break;  // end-of-archive marker
    }
    // checksum: the sum of all header bytes with the checksum field itself read as 8 spaces
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < kBlock; ++i) {
      sum += (i >= 148 && i < 156) ? std::uint64_t{' '} : h[i];
    }
    bool ok_sum = false;
    bool ok_size = false;
    const std::uint64_t stored = tar_number(h.data() + 148, 8, &ok_sum);
    const std::uint64_t size = tar_number(h.data() + 124, 12, &ok_size);
    if (!ok_sum || stored != sum || !ok_size) {
      throw IoError(fmt::format("{}: {}: not a tar archive or corrupt: bad header at byte {}", op,
                                path.string(), offset));
    }
    std::string name = tar_string(h.data(), 100);
    if (std::memcmp(h.data() + 257, "ustar\0", 6) == 0 && h[345] != 0) {
      std::string prefix = tar_string(h.data() + 345, 155);  // POSIX prefix field
      prefix += '/';
      prefix += name;
      name = std::move(prefix);
    }
    if (!next_name.empty()) {
      name = std::move(next_name);
      next_name.clear();
    }
    const char type = static_cast<char>(h[156]);
    if (size > kMaxTarEntry) {
      throw IoError(fmt::format("{}: {}: entry {} in the header at byte {} claims {} bytes", op,
                                path.string(), name, offset, size));
    }
    offset += kBlock;
    const bool regular = type == '0' || type == '\0' || type == '7';
    const bool meta = type == 'L' || type == 'x';
    const bool wanted = meta || (regular && keep(name));
    // Read in chunks, so that memory grows with the bytes that are really there, never with the
    // size a header claims. A skipped entry reuses one chunk.
    const std::uint64_t padded = (size + kBlock - 1) / kBlock * kBlock;
    data.clear();
    std::uint64_t left = padded;
    while (left > 0) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, kChunk));
      const std::size_t at = wanted ? data.size() : 0;
      if (data.size() < at + n) {
        data.resize(at + n);
      }
      const std::size_t read = gz_read_some(op, path, f.get(), data.data() + at, n, offset);
      if (read != n) {
        throw IoError(fmt::format("{}: {}: entry {} truncated at byte {} (needs {} bytes)", op,
                                  path.string(), name, offset + read, size));
      }
      left -= n;
      offset += n;
    }
    if (!wanted) {
      continue;
    }
    data.resize(static_cast<std::size_t>(size));
    if (type == 'L') {
      next_name = tar_string(data.data(), data.size());
    } else if (type == 'x') {
      next_name = pax_path(data);
    } else {
      entries.push_back({std::move(name), std::move(data)});
      data = {};
    }
  }
  return entries;
}

std::string_view base_name(std::string_view path) {
  const std::size_t slash = path.find_last_of('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::vector<std::string> text_lines(const std::vector<std::uint8_t>& bytes) {
  std::vector<std::string> lines;
  std::string line;
  auto flush = [&] {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
      line.pop_back();
    }
    if (!line.empty()) {
      lines.push_back(line);
    }
    line.clear();
  };
  for (const std::uint8_t b : bytes) {
    if (b == '\n') {
      flush();
    } else {
      line.push_back(static_cast<char>(b));
    }
  }
  flush();
  return lines;
}

}  // namespace normlab
