// tests/datasets/dataset_files.h: writers of small files in the real dataset formats (CIFAR
// records, IDX, gzip, ustar tar) inside a unique temporary folder that is removed afterwards.
#pragma once

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/temp_dir.h"

namespace normlab::testing {

using Bytes = std::vector<std::uint8_t>;

inline void write_bytes(const std::filesystem::path& path, const Bytes& bytes) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    throw std::runtime_error("test: cannot write " + path.string());
  }
}

// `raw` compressed as gzip(1) writes it, at zlib's `level` (1 fastest, 9 smallest).
inline Bytes gzip_bytes(std::span<const std::uint8_t> raw, int level = 6) {
  z_stream zs{};
  // windowBits 15 + 16: a gzip header and trailer, as gzip(1) writes.
  if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("test: deflateInit2 failed");
  }
  Bytes out(deflateBound(&zs, static_cast<uLong>(raw.size())) + 64);
  zs.next_in = const_cast<Bytef*>(raw.data());
  zs.avail_in = static_cast<uInt>(raw.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) {
    throw std::runtime_error("test: deflate failed");
  }
  out.resize(zs.total_out);
  return out;
}

// The pixel at (record r, channel c, row y, column x) of the test images: different in every
// channel, row and column, so a planar/interleaved or row/column mix-up changes the values.
inline std::uint8_t test_pixel(int r, int c, int y, int x) {
  return static_cast<std::uint8_t>((r * 37 + c * 101 + y * 7 + x * 3) % 256);
}

// One CIFAR record: label byte(s), then the red, green and blue 32×32 planes, row-major.
inline void append_cifar_record(Bytes& out, const std::vector<std::uint8_t>& label_bytes, int r) {
  out.insert(out.end(), label_bytes.begin(), label_bytes.end());
  for (int c = 0; c < 3; ++c) {
    for (int y = 0; y < 32; ++y) {
      for (int x = 0; x < 32; ++x) {
        out.push_back(test_pixel(r, c, y, x));
      }
    }
  }
}

inline Bytes text_bytes(const std::string& s) {
  return Bytes(s.begin(), s.end());
}

// IDX: magic 00 00 08 <ndim>, big-endian uint32 dims, then the bytes.
inline Bytes idx_bytes(const std::vector<std::uint32_t>& dims, const Bytes& values) {
  Bytes out = {0, 0, 0x08, static_cast<std::uint8_t>(dims.size())};
  for (const std::uint32_t d : dims) {
    out.push_back(static_cast<std::uint8_t>(d >> 24));
    out.push_back(static_cast<std::uint8_t>(d >> 16));
    out.push_back(static_cast<std::uint8_t>(d >> 8));
    out.push_back(static_cast<std::uint8_t>(d));
  }
  out.insert(out.end(), values.begin(), values.end());
  return out;
}

// A POSIX ustar archive of regular files (names < 100 bytes), as `tar --format=ustar` writes it.
struct TarFile {
  std::string name;
  Bytes data;
};
inline Bytes tar_bytes(const std::vector<TarFile>& files) {
  Bytes out;
  auto octal = [](std::uint8_t* field, std::size_t len, std::uint64_t v) {
    std::snprintf(reinterpret_cast<char*>(field), len, "%0*llo", static_cast<int>(len - 1),
                  static_cast<unsigned long long>(v));
  };
  for (const TarFile& f : files) {
    std::uint8_t h[512] = {};
    std::copy(f.name.begin(), f.name.end(), h);
    octal(h + 100, 8, 0644);
    octal(h + 108, 8, 1000);
    octal(h + 116, 8, 1000);
    octal(h + 124, 12, f.data.size());
    octal(h + 136, 12, 1700000000);
    h[156] = '0';
    std::copy_n("ustar", 6, h + 257);
    h[263] = '0';
    h[264] = '0';
    std::fill(h + 148, h + 156, std::uint8_t{' '});
    unsigned sum = 0;
    for (const std::uint8_t b : h) {
      sum += b;
    }
    std::snprintf(reinterpret_cast<char*>(h + 148), 8, "%06o", sum);  // then NUL, space
    h[155] = ' ';
    out.insert(out.end(), h, h + 512);
    out.insert(out.end(), f.data.begin(), f.data.end());
    out.resize((out.size() + 511) / 512 * 512, 0);
  }
  out.resize(out.size() + 1024, 0);  // two zero blocks end the archive
  return out;
}

}  // namespace normlab::testing
