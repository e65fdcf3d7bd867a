// safetensors I/O: round trips for every dtype and shape kind, the exact byte layout of a small
// file, a hand-built file in the reference writer's style, and an IoError naming the file and the
// byte offset or tensor for every malformed input, including truncation at every byte.
#include <fmt/format.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/safetensors.h"
#include "core/tensor_math.h"
#include "tests/temp_dir.h"

using namespace normlab;
using normlab::testing::TempDir;
namespace fs = std::filesystem;

namespace {

std::vector<std::byte> as_bytes(const std::string& s) {
  const auto b = std::as_bytes(std::span(s));
  return {b.begin(), b.end()};
}

// 8-byte little-endian length, the header text, then the buffer.
std::vector<std::byte> file_bytes(const std::string& header, const std::string& buffer) {
  std::string out(8, '\0');
  const std::uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  return as_bytes(out + header + buffer);
}

std::string as_string(const std::vector<std::byte>& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

TensorMap sample_tensors() {
  TensorMap m;
  m["conv.weight"] = Tensor::from_vector({2, 1, 2, 2}, {1, -2, 3, -4, 5, 6, 7, 8.5}, DType::f32);
  m["conv.bias"] = Tensor::from_vector({2}, {0.25, -1e-30}, DType::f64);
  m["labels"] = Tensor::from_vector({3}, {0, 9, -7}, DType::i64);
  m["counts"] = Tensor::from_vector({2, 2}, {1, 2, 3, 2147483647}, DType::i32);
  m["image"] = Tensor::from_vector({1, 3}, {0, 128, 255}, DType::u8);
  m["step"] = Tensor::scalar(42, DType::i64);
  m["empty"] = Tensor::zeros({0, 3}, DType::f32);
  m["transposed"] = Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6}, DType::f64).transpose(0, 1);
  return m;
}

void require_same(const TensorMap& got, const TensorMap& want) {
  REQUIRE(got.size() == want.size());
  for (const auto& [name, t] : want) {
    CAPTURE(name);
    REQUIRE(got.count(name) == 1);
    const Tensor& g = got.at(name);
    REQUIRE(g.dtype() == t.dtype());
    REQUIRE(g.shape() == t.shape());
    REQUIRE(g.is_contiguous());
    if (t.numel() > 0) {
      REQUIRE(max_abs_diff(g.to(DType::f64), t.to(DType::f64)) == 0.0);
    }
  }
}

}  // namespace

TEST_CASE("safetensors round-trips every dtype, scalars, empty and strided tensors",
          "[safetensors]") {
  TempDir dir("roundtrip");
  const TensorMap tensors = sample_tensors();
  const MetadataMap meta = {{"format", "pt"}, {"config", R"({"lr": 0.1, "note": "ünïcode"})"}};
  write_safetensors(dir.file("a.safetensors"), tensors, meta);
  const Safetensors back = read_safetensors(dir.file("a.safetensors"));
  require_same(back.tensors, tensors);
  REQUIRE(back.metadata == meta);
  // The file and the in-memory form are the same bytes.
  std::ifstream in(dir.file("a.safetensors"), std::ios::binary);
  const std::string on_disk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(on_disk == as_string(safetensors_to_bytes(tensors, meta)));
  require_same(safetensors_from_bytes(safetensors_to_bytes(tensors)).tensors, tensors);
}

TEST_CASE("safetensors byte layout: length, padded JSON header, aligned little-endian data",
          "[safetensors]") {
  TensorMap m;
  m["b"] = Tensor::from_vector({2}, {1.0, -2.0}, DType::f32);
  m["a"] = Tensor::from_vector({1}, {0.5}, DType::f64);
  const std::vector<std::byte> bytes = safetensors_to_bytes(m, {{"k", "v"}});
  // F64 before F32 (largest element first), keys sorted inside the JSON object.
  const std::string header =
      R"({"__metadata__":{"k":"v"},"a":{"data_offsets":[0,8],"dtype":"F64","shape":[1]},)"
      R"("b":{"data_offsets":[8,16],"dtype":"F32","shape":[2]}})";
  std::string padded = header;
  padded.append((8 - header.size() % 8) % 8, ' ');
  const double a = 0.5;
  const float b[2] = {1.0F, -2.0F};
  std::string buffer(16, '\0');
  std::memcpy(buffer.data(), &a, 8);
  std::memcpy(buffer.data() + 8, b, 8);
  REQUIRE(as_string(bytes) == as_string(file_bytes(padded, buffer)));
  REQUIRE(padded.size() % 8 == 0);
}

TEST_CASE("safetensors reads a file in the reference writer's style", "[safetensors]") {
  // Unpadded header, fields in another order, metadata last, an empty metadata-free tensor.
  double w[4] = {1.5, -2.0, 3.25, 4.0};
  std::string buffer(32, '\0');
  std::memcpy(buffer.data(), w, 32);
  const std::vector<std::byte> bytes =
      file_bytes(R"({"fc.weight":{"dtype":"F64","shape":[2,2],"data_offsets":[0,32]},)"
                 R"("fc.none":{"shape":[0],"dtype":"I64","data_offsets":[32,32]},)"
                 R"("__metadata__":{"format":"pt"}})",
                 buffer);
  const Safetensors s = safetensors_from_bytes(bytes, "ref.safetensors");
  REQUIRE(s.metadata == MetadataMap{{"format", "pt"}});
  REQUIRE(s.tensors.at("fc.weight").get({1, 0}) == 3.25);
  REQUIRE(s.tensors.at("fc.none").shape() == Shape{0});
}

TEST_CASE("safetensors truncated at any byte is an IoError", "[safetensors][errors]") {
  const std::vector<std::byte> bytes = safetensors_to_bytes(sample_tensors(), {{"k", "v"}});
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    CAPTURE(cut);
    REQUIRE_THROWS_AS(safetensors_from_bytes(std::span(bytes).first(cut), "cut.safetensors"),
                      IoError);
  }
  // One byte too many is an error too: the tensors must cover the buffer.
  std::vector<std::byte> longer = bytes;
  longer.push_back(std::byte{0});
  REQUIRE_THROWS_WITH(
      safetensors_from_bytes(longer, "long.safetensors"),
      Catch::Matchers::Contains("long.safetensors") && Catch::Matchers::Contains("end at byte"));
}

TEST_CASE("safetensors names the problem in a malformed file", "[safetensors][errors]") {
  const std::string f32x2(8, '\0');
  auto error_of = [](const std::vector<std::byte>& b) {
    try {
      safetensors_from_bytes(b, "bad.safetensors");
    } catch (const IoError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  using Catch::Matchers::Contains;
  // header length beyond the file, beyond the 100 MB bound, shorter than 8 bytes
  std::vector<std::byte> huge = file_bytes("{}", "");
  huge[5] = std::byte{1};
  CHECK_THAT(error_of(huge), Contains("exceeds"));
  std::vector<std::byte> past = file_bytes("{}", "");
  past[0] = std::byte{3};
  CHECK_THAT(error_of(past), Contains("runs past the end") && Contains("bad.safetensors"));
  CHECK_THAT(error_of(as_bytes("abc")), Contains("shorter than the 8-byte"));
  // JSON problems
  CHECK_THAT(error_of(file_bytes(R"({"a": )", "")), Contains("not valid JSON at byte"));
  CHECK_THAT(error_of(file_bytes(R"({"a": 2244e2316})", "")),  // beyond double: out_of_range
             Contains("not valid JSON") && Contains("number overflow"));
  CHECK_THAT(error_of(file_bytes("[1, 2]", "")), Contains("not a JSON object"));
  CHECK_THAT(error_of(file_bytes(R"({"__metadata__": {"k": 1}})", "")),
             Contains("metadata 'k' is not a string"));
  // entries
  const std::string ok = R"("dtype":"F32","shape":[2],"data_offsets":[0,8])";
  CHECK(error_of(file_bytes("{\"x\":{" + ok + "}}", f32x2)) == "no error");
  CHECK_THAT(
      error_of(file_bytes(R"({"x":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}})", f32x2)),
      Contains("tensor 'x'") && Contains("unsupported dtype 'F16'"));
  CHECK_THAT(
      error_of(file_bytes(R"({"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", f32x2)),
      Contains("not a non-negative integer"));
  CHECK_THAT(
      error_of(file_bytes(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", f32x2)),
      Contains("needs 12"));
  CHECK_THAT(
      error_of(file_bytes(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", f32x2)),
      Contains("outside the 8-byte buffer"));
  CHECK_THAT(error_of(file_bytes(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", f32x2)),
             Contains("not a pair"));
  CHECK_THAT(error_of(file_bytes("{\"x\":{" + ok + R"(,"extra":1}})", f32x2)),
             Contains("unknown field 'extra'"));
  CHECK_THAT(error_of(file_bytes(R"({"x":{"dtype":"F32","shape":[4611686018427387904,4],)"
                                 R"("data_offsets":[0,8]}})",
                                 f32x2)),
             Contains("more elements than"));
  // offsets that overlap or leave a gap
  CHECK_THAT(error_of(file_bytes("{\"x\":{" + ok + "},\"y\":{" + ok + "}}", f32x2 + f32x2)),
             Contains("overlap"));
  CHECK_THAT(error_of(file_bytes(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                                 f32x2 + f32x2)),
             Contains("tensor 'x' starts at byte") && Contains("gap"));
}

TEST_CASE("safetensors write and read errors", "[safetensors][errors]") {
  TempDir dir("errors");
  REQUIRE_THROWS_WITH(
      read_safetensors(dir.file("missing.safetensors")),
      Catch::Matchers::Contains("missing.safetensors") && Catch::Matchers::Contains("cannot open"));
  REQUIRE_THROWS_AS(write_safetensors(dir.file("x"), {{"__metadata__", Tensor::zeros({1})}}),
                    ValueError);
  REQUIRE_THROWS_AS(write_safetensors(dir.file("x"), {{"undefined", Tensor()}}), ValueError);
  REQUIRE_THROWS_AS(write_safetensors(dir.file("x"), {{"\xff\xfe", Tensor::zeros({1})}}),
                    ValueError);
  REQUIRE_THROWS_AS(write_safetensors(dir.file("no/such/dir/x"), {{"a", Tensor::zeros({1})}}),
                    IoError);
  REQUIRE(fs::is_empty(dir.file("")));
}

TEST_CASE("safetensors: a deeply nested shape is an IoError, not a stack overflow",
          "[safetensors][errors][fuzz]") {
  // The error message used to dump() the shape's JSON, which recurses once per level: a 2 MB
  // header nesting a million arrays crashed `normlab eval` with a segmentation fault.
  constexpr std::size_t kDepth = 1'000'000;
  std::string header = R"({"a":{"dtype":"F32","shape":)";
  header.append(kDepth, '[').append(kDepth, ']').append(R"(,"data_offsets":[0,0]}})");
  const std::vector<std::byte> bytes = file_bytes(header, "");
  CHECK_THROWS_AS(safetensors_from_bytes(bytes, "deep"), IoError);
  CHECK_THROWS_WITH(safetensors_from_bytes(bytes, "deep"),
                    Catch::Matchers::Contains("tensor 'a'") &&
                        Catch::Matchers::Contains("dimension 0 is not a non-negative integer"));
}
