// Image files that reach faults of stb_image 2.27 (Debian 12's libstb), found by the image fuzz
// target, are refused before stb sees them (datasets/stb_guard.h), while valid baseline and
// progressive JPEGs, PNGs and BMPs still decode; and headers that claim more pixels than the file
// can hold are refused before any allocation.
#include <fmt/format.h>
#include <stb/stb_image_write.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "datasets/file_reader.h"
#include "datasets/image_io.h"
#include "datasets/stb_guard.h"
#include "tests/datasets/dataset_files.h"

using namespace normlab;
using namespace normlab::testing;
using Catch::Matchers::Contains;

namespace {

// A baseline JPEG of 8×8 gray pixels written by stb_image_write.
Bytes small_jpeg() {
  TempDir dir("stb_guard");
  std::vector<std::uint8_t> px(64);
  for (std::size_t i = 0; i < px.size(); ++i) {
    px[i] = static_cast<std::uint8_t>(i * 4);
  }
  REQUIRE(stbi_write_jpg((dir / "a.jpg").c_str(), 8, 8, 1, px.data(), 90) != 0);
  return read_file_bytes("test", dir / "a.jpg");
}

// The offset of the first marker FF <code> in a JPEG.
std::size_t find_marker(const Bytes& b, std::uint8_t code) {
  for (std::size_t i = 0; i + 1 < b.size(); ++i) {
    if (b[i] == 0xFF && b[i + 1] == code) {
      return i;
    }
  }
  FAIL("marker not found");
  return 0;
}

}  // namespace

TEST_CASE("valid JPEG, PNG and BMP files pass the stb guard and decode", "[image_io][fuzz]") {
  const Bytes jpeg = small_jpeg();
  CHECK_FALSE(jpeg_huffman_problem(jpeg));
  const Image img = decode_image(jpeg, "a.jpg", 1);
  CHECK((img.H == 8 && img.W == 8 && img.C == 1));
  // libjpeg's progressive mode defines AC tables between scans and names an undefined AC table in
  // its DC scans: both must be accepted.
  const Bytes progressive = read_file_bytes(
      "test", fmt::format("{}/tests/datasets/data/progressive_8x6.jpg", NORMLAB_SOURCE_DIR));
  CHECK_FALSE(jpeg_huffman_problem(progressive));
  const Image p = decode_image(progressive, "progressive_8x6.jpg", 3);
  CHECK((p.H == 6 && p.W == 8 && p.C == 3));
}

TEST_CASE("a JPEG Huffman table of more than 256 codes is refused", "[image_io][errors][fuzz]") {
  // stb 2.27 wrote past the table's 257-byte size list for this (memory corruption).
  Bytes jpeg = small_jpeg();
  const std::size_t dht = find_marker(jpeg, 0xC4);
  jpeg[dht + 5 + 15] = 250;  // the count of 16-bit codes of the first table
  const auto problem = jpeg_huffman_problem(jpeg);
  REQUIRE(problem);
  CHECK_THAT(*problem, Contains("holds") && Contains("at most 256"));
  CHECK_THROWS_AS(decode_image(jpeg, "bad.jpg", 1), IoError);
  CHECK_THROWS_WITH(decode_image(jpeg, "bad.jpg", 1),
                    Contains("bad.jpg") && Contains("corrupt JPEG"));
}

TEST_CASE("a JPEG scan with an undefined Huffman table is refused", "[image_io][errors][fuzz]") {
  // stb 2.27 decoded with its uninitialised table and failed an assertion (an abort in Debian's
  // libstb) or read out of bounds.
  Bytes jpeg = small_jpeg();
  const std::size_t sos = find_marker(jpeg, 0xDA);
  jpeg[sos + 6] = 0x33;  // component 1 uses DC table 3 and AC table 3, which no DHT defines
  CHECK_THROWS_AS(decode_image(jpeg, "scan.jpg", 1), IoError);
  CHECK_THROWS_WITH(decode_image(jpeg, "scan.jpg", 1),
                    Contains("scan.jpg") && Contains("Huffman table DC 3"));
}

TEST_CASE("a JPEG scan that ends in the middle of a block decodes with zero bits",
          "[image_io][fuzz]") {
  // 16×8 gray, one DC table with a 15-bit code (category 0) and a 16-bit code (category 10), one
  // AC table holding only EOB. The scan is 00 00 00 02 then EOI: the first block is DC 0 and EOB;
  // the second block's DC code ends exactly at the marker, so its 10 extra bits are read past it.
  // stb's bit counter goes to -10 there (the UBSan "shift exponent 34" of the fuzz target,
  // docs/reliability.md, finding 13); the bits past a marker are zeros, so the difference is
  // -1023 and the second block is black. The file must decode, to exactly that, every time.
  const Bytes jpeg = read_file_bytes(
      "test", fmt::format("{}/tests/datasets/data/scan_ends_mid_block.jpg", NORMLAB_SOURCE_DIR));
  CHECK_FALSE(jpeg_huffman_problem(jpeg));
  const Image img = decode_image(jpeg, "scan_ends_mid_block.jpg", 1);
  REQUIRE((img.H == 8 && img.W == 16 && img.C == 1));
  for (std::int64_t h = 0; h < img.H; ++h) {
    for (std::int64_t w = 0; w < img.W; ++w) {
      INFO("h " << h << ", w " << w);
      CHECK(img.pixels[static_cast<std::size_t>(h * img.W + w)] == (w < 8 ? 128 : 0));
    }
  }
}

TEST_CASE("a PNG chunk longer than the file is refused before stb allocates it",
          "[image_io][errors][fuzz]") {
  TempDir dir("stb_guard");
  const std::vector<std::uint8_t> px(12, 200);
  write_png(dir / "a.png", px.data(), 3, 2, 2);
  Bytes png = read_file_bytes("test", dir / "a.png");
  CHECK(decode_image(png, "a.png", 3).pixels == px);
  const std::size_t idat = 8 + 25;  // the signature, then IHDR: 4 + 4 + 13 + 4 bytes
  REQUIRE(std::string(png.begin() + idat + 4, png.begin() + idat + 8) == "IDAT");
  png[idat] = 0x20;  // the IDAT length becomes 2^29 + its own: stb reserved that much
  CHECK_THROWS_AS(decode_image(png, "big.png", 3), IoError);
  CHECK_THROWS_WITH(decode_image(png, "big.png", 3),
                    Contains("big.png") && Contains("corrupt PNG") && Contains("claims"));
}

TEST_CASE("image headers that claim more pixels than the file can hold are refused",
          "[image_io][errors][fuzz]") {
  TempDir dir("stb_guard");
  const std::vector<std::uint8_t> px(std::size_t{3} * 2 * 2, 9);
  REQUIRE(stbi_write_bmp((dir / "a.bmp").c_str(), 2, 2, 3, px.data()) != 0);
  Bytes bmp = read_file_bytes("test", dir / "a.bmp");
  CHECK(decode_image(bmp, "a.bmp", 3).W == 2);
  // BITMAPINFOHEADER width and height at bytes 18 and 22: 60000 × 60000 in a 70-byte file.
  for (const std::size_t at : {std::size_t{18}, std::size_t{22}}) {
    bmp[at] = 0x60;
    bmp[at + 1] = 0xEA;
  }
  CHECK_THROWS_AS(decode_image(bmp, "huge.bmp", 3), IoError);
  CHECK_THROWS_WITH(decode_image(bmp, "huge.bmp", 3),
                    Contains("huge.bmp") && Contains("60000x60000"));
  // Formats other than PNG, JPEG and BMP never reach stb.
  const Bytes pgm = text_bytes("P5 2 2 255\n\x01\x02\x03\x04");
  CHECK_THROWS_AS(decode_image(pgm, "a.pgm", 1), IoError);
  CHECK_THROWS_WITH(decode_image(pgm, "a.pgm", 1),
                    Contains("a.pgm") && Contains("not a PNG, JPEG or BMP"));
}
