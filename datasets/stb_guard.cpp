// datasets/stb_guard.cpp: see stb_guard.h. The JPEG marker syntax is ITU T.81, annex B; the PNG
// chunk layout (length, type, data, CRC) is the PNG specification's, section 5.3.
#include "datasets/stb_guard.h"

#include <fmt/format.h>

#include <array>

namespace normlab {

namespace {

constexpr std::uint8_t kDht = 0xC4;
constexpr std::uint8_t kSos = 0xDA;
constexpr std::uint8_t kEoi = 0xD9;

// The byte at i, or 0 past the end, as stb's reader returns.
std::uint8_t at(std::span<const std::uint8_t> b, std::size_t i) {
  return i < b.size() ? b[i] : 0;
}

std::size_t be16(std::span<const std::uint8_t> b, std::size_t i) {
  return (std::size_t{at(b, i)} << 8) | at(b, i + 1);
}

// Which Huffman tables DHT segments have defined so far: [class][id], class 0 DC, 1 AC.
using Defined = std::array<std::array<bool, 4>, 2>;

// Checks the DHT segment whose length field starts at `pos`, reading tables while the remaining
// length is positive, as stb does (a table may run past the segment's end), and marks the tables
// it defines. Returns a problem, or nothing (also when stb would stop with an error of its own).
std::optional<std::string> check_dht(std::span<const std::uint8_t> b, std::size_t pos,
                                     Defined& defined) {
  long left = static_cast<long>(be16(b, pos)) - 2;
  std::size_t p = pos + 2;
  while (left > 0 && p < b.size()) {
    const std::uint8_t q = at(b, p);
    const unsigned tc = q >> 4;
    const unsigned th = q & 15u;
    if (tc > 1 || th > 3) {
      return std::nullopt;  // stb stops here with "bad DHT header"
    }
    long codes = 0;
    for (std::size_t i = 0; i < 16; ++i) {
      codes += at(b, p + 1 + i);
    }
    if (codes > 256) {
      return fmt::format("Huffman table at byte {} holds {} codes (a JPEG table holds at most 256)",
                         p, codes);
    }
    defined[tc][th] = true;
    p += 17 + static_cast<std::size_t>(codes);
    left -= 17 + codes;
  }
  return std::nullopt;
}

// Checks that every Huffman table the scan whose header starts at `pos` decodes with has been
// defined: stb allocates its tables uninitialised, so an undefined one is read as garbage (an
// assertion or an out-of-bounds read in stbi__jpeg_huff_decode). Baseline scans use the DC and AC
// tables of each component; progressive ones the DC tables (first DC scan, Ss = 0, Ah = 0) or the
// AC tables (Ss > 0).
std::optional<std::string> check_scan(std::span<const std::uint8_t> b, std::size_t pos,
                                      bool progressive, const Defined& defined) {
  const std::size_t ns = at(b, pos + 2);
  const std::size_t after = pos + 3 + 2 * ns;  // Ss, Se, Ah|Al
  const bool dc_scan = at(b, after) == 0;
  const bool first_dc = dc_scan && (at(b, after + 2) >> 4) == 0;
  for (std::size_t i = 0; i < ns && i < 4; ++i) {
    const unsigned td = at(b, pos + 4 + 2 * i) >> 4;
    const unsigned ta = at(b, pos + 4 + 2 * i) & 15u;
    if (td > 3 || ta > 3) {
      return std::nullopt;  // stb stops here with "bad Huffman code"
    }
    const bool need_dc = progressive ? first_dc : true;
    const bool need_ac = progressive ? !dc_scan : true;
    if ((need_dc && !defined[0][td]) || (need_ac && !defined[1][ta])) {
      return fmt::format("the scan at byte {} uses Huffman table {} {}, which no DHT defines",
                         pos - 2, need_dc && !defined[0][td] ? "DC" : "AC",
                         need_dc && !defined[0][td] ? td : ta);
    }
  }
  return std::nullopt;
}

// From p (just after a scan header) to the next marker: entropy-coded data holds FF only as
// FF 00 (a stuffed byte) or FF D0..D7 (restart markers), which stb's decoder reads through.
std::size_t skip_entropy_coded_data(std::span<const std::uint8_t> b, std::size_t p) {
  while (p < b.size()) {
    if (b[p] != 0xFF) {
      ++p;
      continue;
    }
    std::size_t q = p + 1;
    while (q < b.size() && b[q] == 0xFF) {
      ++q;
    }
    if (q < b.size() && (b[q] == 0 || (b[q] >= 0xD0 && b[q] <= 0xD7))) {
      p = q + 1;
      continue;
    }
    break;
  }
  return p;
}

}  // namespace

std::optional<std::string> jpeg_huffman_problem(std::span<const std::uint8_t> b) {
  Defined defined{};
  bool sof_seen = false;
  bool progressive = false;
  std::size_t p = 2;  // after SOI (FF D8)
  while (p < b.size()) {
    // A marker: bytes that are not FF are skipped (stb resynchronises on them before the frame
    // header and stops on them after it), then FF fill bytes, then the marker code.
    while (p < b.size() && b[p] != 0xFF) {
      ++p;
    }
    while (p < b.size() && b[p] == 0xFF) {
      ++p;
    }
    if (p >= b.size()) {
      return std::nullopt;
    }
    const std::uint8_t marker = b[p++];
    if (marker == kEoi) {
      return std::nullopt;
    }
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) {
      continue;  // markers without a length
    }
    if (marker == kDht) {
      if (auto problem = check_dht(b, p, defined)) {
        return problem;
      }
    }
    if ((marker == 0xC0 || marker == 0xC1 || marker == 0xC2) && !sof_seen) {
      sof_seen = true;
      progressive = marker == 0xC2;
    }
    if (marker == kSos) {
      if (auto problem = check_scan(b, p, progressive, defined)) {
        return problem;
      }
      p = skip_entropy_coded_data(b, p + be16(b, p));
      continue;
    }
    p += be16(b, p);
  }
  return std::nullopt;
}

std::optional<std::string> png_chunk_problem(std::span<const std::uint8_t> b) {
  constexpr std::size_t kSignature = 8;
  constexpr std::uint64_t kFraming = 12;  // length, type, CRC
  std::size_t p = kSignature;
  while (p + 8 <= b.size()) {
    const std::uint64_t length = (std::uint64_t{b[p]} << 24) | (std::uint64_t{b[p + 1]} << 16) |
                                 (std::uint64_t{b[p + 2]} << 8) | b[p + 3];
    const std::uint64_t left = b.size() - p;
    if (length + kFraming > left) {
      return fmt::format("chunk at byte {} claims {} bytes but the file has {} left", p, length,
                         left);
    }
    if (b[p + 4] == 'I' && b[p + 5] == 'E' && b[p + 6] == 'N' && b[p + 7] == 'D') {
      return std::nullopt;
    }
    p += static_cast<std::size_t>(kFraming + length);
  }
  return std::nullopt;
}

}  // namespace normlab
