// .npy I/O: round trips for every dtype and shape kind, hand-built headers (versions 1.0 and 2.0,
// numpy's spelling variants), and an IoError naming the file and the reason for every bad input.
#include <fmt/format.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/npy.h"
#include "core/tensor_math.h"
#include "tests/temp_dir.h"

using namespace normlab;
using normlab::testing::TempDir;
namespace fs = std::filesystem;

namespace {

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Magic, version major.0, header length (2 or 4 bytes LE), the header text, then `data`.
std::string npy_file(int major, const std::string& header, const std::string& data) {
  std::string out = "\x93NUMPY";
  out.push_back(static_cast<char>(major));
  out.push_back('\0');
  const std::size_t len = header.size();
  const int len_bytes = major == 1 ? 2 : 4;
  for (int i = 0; i < len_bytes; ++i) {
    out.push_back(static_cast<char>((len >> (8 * i)) & 0xff));
  }
  return out + header + data;
}

std::string floats(std::initializer_list<float> values) {
  std::string out(values.size() * sizeof(float), '\0');
  std::memcpy(out.data(), std::data(values), out.size());
  return out;
}

}  // namespace

TEST_CASE("npy round-trips every dtype and shape", "[npy]") {
  TempDir dir("roundtrip");
  const std::vector<Shape> shapes{{2, 3}, {5}, {}, {0, 4}, {2, 1, 3, 2}};
  for (const DType dtype : {DType::f32, DType::f64, DType::u8, DType::i32, DType::i64}) {
    for (const Shape& shape : shapes) {
      CAPTURE(dtype_name(dtype), to_string(shape));
      Tensor t = Tensor::empty(shape, dtype);
      for (std::int64_t i = 0; i < t.numel(); ++i) {
        t.view({-1}).set({i}, static_cast<double>((i * 7) % 200) - (is_floating(dtype) ? 3.5 : 0));
      }
      const std::string path = dir.file("t.npy");
      write_npy(path, t);
      const Tensor r = read_npy(path);
      REQUIRE(r.dtype() == dtype);
      REQUIRE(r.shape() == shape);
      REQUIRE(max_abs_diff(r.to(DType::f64), t.to(DType::f64)) == 0.0);
      const Tensor m = npy_from_bytes(npy_to_bytes(t));
      REQUIRE(m.shape() == shape);
      REQUIRE(max_abs_diff(m.to(DType::f64), t.to(DType::f64)) == 0.0);
    }
  }
}

TEST_CASE("npy writes numpy's layout: 64-byte aligned header, C order", "[npy]") {
  const Tensor t = Tensor::from_vector({2, 3}, {0, 1, 2, 3, 4, 5}, DType::f64).transpose(0, 1);
  const std::vector<std::byte> b = npy_to_bytes(t);
  const std::string s(reinterpret_cast<const char*>(b.data()), b.size());
  REQUIRE(s.substr(0, 8) == std::string("\x93NUMPY\x01\x00", 8));
  const std::size_t header_len = static_cast<unsigned char>(s[8]) |
                                 (static_cast<std::size_t>(static_cast<unsigned char>(s[9])) << 8);
  REQUIRE((10 + header_len) % 64 == 0);
  REQUIRE(s[10 + header_len - 1] == '\n');
  REQUIRE(s.substr(10, header_len).find("'shape': (3, 2)") != std::string::npos);
  REQUIRE(s.substr(10, header_len).find("'descr': '<f8'") != std::string::npos);
  double first_row[2];
  std::memcpy(first_row, b.data() + 10 + header_len, sizeof first_row);
  REQUIRE(first_row[0] == 0.0);  // transposed: row 0 is (0, 3)
  REQUIRE(first_row[1] == 3.0);
  const std::vector<std::byte> u = npy_to_bytes(Tensor::zeros({7}, DType::u8));
  const std::string one_d(reinterpret_cast<const char*>(u.data()), 64);
  REQUIRE(one_d.find("'shape': (7,)") != std::string::npos);
  REQUIRE(one_d.find("'|u1'") != std::string::npos);
}

TEST_CASE("npy reads hand-built headers: version 2.0, double quotes, key order, L suffix",
          "[npy]") {
  TempDir dir("variants");
  const std::string data = floats({1.f, 2.f, 3.f, 4.f, 5.f, 6.f});
  const std::vector<std::pair<int, std::string>> headers{
      {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }       \n"},
      {2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n"},
      {1, "{\"shape\": (2,3), \"descr\": \"<f4\", \"fortran_order\": False}\n"},
      {1, "{'descr':'<f4','fortran_order':False,'shape':(2L, 3L)}"},
  };
  for (const auto& [major, header] : headers) {
    CAPTURE(major, header);
    const std::string path = dir.file("v.npy");
    write_bytes(path, npy_file(major, header, data));
    const Tensor t = read_npy(path);
    REQUIRE(t.shape() == Shape{2, 3});
    REQUIRE(t.dtype() == DType::f32);
    REQUIRE(t.get({1, 2}) == 6.0);
  }
}

TEST_CASE("npy rejects every unsupported or malformed file with a named IoError", "[npy][errors]") {
  TempDir dir("errors");
  const std::string ok_header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n";
  const std::string two = floats({1.f, 2.f});
  struct Case {
    std::string label;
    std::string bytes;
    std::string reason;
  };
  std::vector<Case> cases{
      {"empty", "", "too short"},
      {"magic", std::string("\x93NUMPZ\x01\x00\x00\x00", 10), "bad magic at byte 5"},
      {"version", npy_file(4, ok_header, two), "unsupported format version 4.0"},
      {"v2short", std::string("\x93NUMPY\x02\x00\x00\x00", 10), "too short for a version 2"},
      {"headerlong", npy_file(1, ok_header, "").substr(0, 20), "runs past the end"},
      {"truncated", npy_file(1, ok_header, floats({1.f})), "needs 8 data bytes"},
      {"extra", npy_file(1, ok_header, floats({1.f, 2.f, 3.f})), "the file holds 12"},
  };
  // Version 1 files with two floats of data whose only fault is the header dictionary.
  struct HeaderCase {
    std::string label;
    std::string header;
    std::string reason;
  };
  const std::vector<HeaderCase> header_cases{
      {"bigendian", "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }",
       "big-endian dtype '>f4'"},
      {"fortran", "{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", "fortran_order True"},
      {"dtype", "{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }",
       "unsupported dtype '<f2'"},
      {"object", "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }",
       "unsupported dtype '|O'"},
      {"nokey", "{'descr': '<f4', 'shape': (2,), }", "lacks one of"},
      {"extrakey", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}",
       "unexpected or repeated key 'x'"},
      {"repeated", "{'descr': '<f4', 'descr': '<f4', 'shape': (2,)}",
       "unexpected or repeated key 'descr'"},
      {"nobrace", "'descr': '<f4'", "malformed header at byte 10: expected '{'"},
      {"unterminated", "{'descr: <f4, 'shape': (2,)}", "expected ':'"},
      {"badbool", "{'descr': '<f4', 'fortran_order': false, 'shape': (2,)}",
       "expected True or False"},
      {"negative", "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}",
       "expected a non-negative integer"},
      {"badtuple", "{'descr': '<f4', 'fortran_order': False, 'shape': (2 3)}",
       "expected ',' or ')'"},
      {"trailing", ok_header + "}", "unexpected characters after"},
      {"huge_int", "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}",
       "integer too large"},
      // Claims 4·10^12 bytes: must be refused by the size check, not by a failed allocation.
      {"claims_terabytes", "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000)}",
       "needs 4000000000000 data bytes"},
      {"overflow", "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296)}",
       "too large"},
  };
  for (const HeaderCase& h : header_cases) {
    cases.push_back({h.label, npy_file(1, h.header, two), h.reason});
  }
  for (const Case& c : cases) {
    CAPTURE(c.label);
    const std::string path = dir.file(c.label + ".npy");
    write_bytes(path, c.bytes);
    REQUIRE_THROWS_AS(read_npy(path), IoError);
    REQUIRE_THROWS_WITH(read_npy(path), Catch::Contains(path) && Catch::Contains(c.reason));
    const auto* p = reinterpret_cast<const std::byte*>(c.bytes.data());
    REQUIRE_THROWS_WITH(npy_from_bytes({p, c.bytes.size()}, c.label),
                        Catch::Contains(c.label) && Catch::Contains(c.reason));
  }
}

TEST_CASE("npy reports a missing file and an unwritable path", "[npy][errors]") {
  TempDir dir("missing");
  const std::string missing = dir.file("nope.npy");
  REQUIRE_THROWS_AS(read_npy(missing), IoError);
  REQUIRE_THROWS_WITH(read_npy(missing), Catch::Contains("nope.npy"));
  const std::string bad = dir.file("no_such_dir/out.npy");
  REQUIRE_THROWS_AS(write_npy(bad, Tensor::zeros({2})), IoError);
  REQUIRE_THROWS_WITH(write_npy(bad, Tensor::zeros({2})), Catch::Contains("out.npy"));
}

TEST_CASE("npy: an empty array whose other dimensions overflow is an error, not UB",
          "[npy][errors][fuzz]") {
  // (0, 2^62, 2^62) holds no data bytes, so the size check passes; the strides of the other axes
  // (2^124) used to overflow int64 inside Tensor::empty.
  const std::string header =
      "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4611686018427387904, "
      "4611686018427387904), }\n";
  const std::string bytes = npy_file(1, header, "");
  const auto* p = reinterpret_cast<const std::byte*>(bytes.data());
  CHECK_THROWS_AS(npy_from_bytes({p, bytes.size()}, "huge.npy"), ShapeError);
  CHECK_THROWS_WITH(npy_from_bytes({p, bytes.size()}, "huge.npy"),
                    Catch::Matchers::Contains("more than 2^63 elements"));
}
