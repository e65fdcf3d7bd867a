// IDX (MNIST, Fashion-MNIST): a tiny pair written plain and gzipped comes back exactly; wrong
// magic numbers, truncation, count mismatches and bad labels are clear errors; the real Debian
// Fashion-MNIST files load when installed.
#include <catch2/catch.hpp>
#include <filesystem>

#include "core/error.h"
#include "datasets/idx.h"
#include "tests/datasets/dataset_files.h"

using namespace normlab;
using namespace normlab::testing;
using Catch::Matchers::Contains;

namespace {

// 3 images of 4×5 pixels: pixel (n, y, x) = 50n + 5y + x; labels 7, 0, 9.
Bytes tiny_images() {
  Bytes v;
  for (int n = 0; n < 3; ++n) {
    for (int y = 0; y < 4; ++y) {
      for (int x = 0; x < 5; ++x) {
        v.push_back(static_cast<std::uint8_t>(50 * n + 5 * y + x));
      }
    }
  }
  return idx_bytes({3, 4, 5}, v);
}
Bytes tiny_labels() {
  return idx_bytes({3}, {7, 0, 9});
}

void write_mnist_dir(const std::filesystem::path& dir, bool gz) {
  const std::string ext = gz ? ".gz" : "";
  auto put = [&](const std::string& name, const Bytes& b) {
    write_bytes(dir / (name + ext), gz ? gzip_bytes(b) : b);
  };
  put("train-images-idx3-ubyte", tiny_images());
  put("train-labels-idx1-ubyte", tiny_labels());
  put("t10k-images-idx3-ubyte", idx_bytes({1, 4, 5}, Bytes(20, 255)));
  put("t10k-labels-idx1-ubyte", idx_bytes({1}, {3}));
}

}  // namespace

TEST_CASE("idx pairs round-trip, gzipped and plain", "[idx]") {
  const bool gz = GENERATE(false, true);
  CAPTURE(gz);
  TempDir dir("idx");
  write_mnist_dir(dir.path(), gz);
  const DatasetSplits s = load_mnist(dir.path());
  REQUIRE(s.train.images.shape() == Shape{3, 1, 4, 5});
  REQUIRE(s.test.images.shape() == Shape{1, 1, 4, 5});
  CHECK(s.train.label(0) == 7);
  CHECK(s.train.label(1) == 0);
  CHECK(s.train.label(2) == 9);
  CHECK(s.test.label(0) == 3);
  for (int n = 0; n < 3; ++n) {
    for (int y = 0; y < 4; ++y) {
      for (int x = 0; x < 5; ++x) {
        REQUIRE(s.train.images.at<std::uint8_t>({n, 0, y, x}) == 50 * n + 5 * y + x);
      }
    }
  }
  CHECK(s.class_names == mnist_class_names());
  CHECK(s.train.name == "mnist train");
  const DatasetSplits f = load_fashion_mnist(dir.path());
  CHECK(f.class_names[0] == "T-shirt/top");
  CHECK(f.class_names[9] == "Ankle boot");
}

TEST_CASE("read_idx keeps the file's dimensions", "[idx]") {
  TempDir dir("idx-read");
  write_bytes(dir / "a.idx", idx_bytes({2, 3}, {1, 2, 3, 4, 5, 6}));
  const Tensor t = read_idx(dir / "a.idx");
  REQUIRE(t.shape() == Shape{2, 3});
  CHECK(t.at<std::uint8_t>({1, 2}) == 6);
}

TEST_CASE("idx errors name the file and what is wrong", "[idx][errors]") {
  TempDir dir("idx-err");
  const auto file = dir / "x-idx3-ubyte";
  SECTION("wrong magic") {
    Bytes b = tiny_images();
    b[0] = 0x1f;
    write_bytes(file, b);
    REQUIRE_THROWS_AS(read_idx(file), IoError);
    REQUIRE_THROWS_WITH(read_idx(file), Contains("bad magic number 0x1F000803"));
  }
  SECTION("a value type other than unsigned byte") {
    Bytes b = tiny_images();
    b[2] = 0x0D;
    write_bytes(file, b);
    REQUIRE_THROWS_WITH(read_idx(file), Contains("value type 0x0D (float32)"));
  }
  SECTION("truncated data, plain and gzipped") {
    Bytes b = tiny_images();
    b.pop_back();
    write_bytes(file, b);
    REQUIRE_THROWS_WITH(read_idx(file),
                        Contains("truncated at byte 75: dimensions [3, 4, 5] need "
                                 "60 data bytes after the 16-byte header, found 59"));
    write_bytes(dir / "y.gz", gzip_bytes(b));
    REQUIRE_THROWS_WITH(read_idx(dir / "y.gz"), Contains("truncated at byte 75"));
  }
  SECTION("trailing bytes") {
    Bytes b = tiny_images();
    b.push_back(0);
    write_bytes(file, b);
    REQUIRE_THROWS_WITH(read_idx(file), Contains("trailing bytes at byte 76"));
  }
  SECTION("truncated dimension list") {
    write_bytes(file, Bytes{0, 0, 8, 3, 0, 0});
    REQUIRE_THROWS_WITH(read_idx(file), Contains("truncated at byte 6 in the dimension list"));
  }
  SECTION("a gzip stream cut short") {
    const Bytes gz = gzip_bytes(tiny_images());
    write_bytes(dir / "y.gz", Bytes(gz.begin(), gz.end() - 12));
    REQUIRE_THROWS_AS(read_idx(dir / "y.gz"), IoError);
    REQUIRE_THROWS_WITH(read_idx(dir / "y.gz"), Contains("y.gz"));
  }
  SECTION("missing file") {
    REQUIRE_THROWS_WITH(read_idx(dir / "nope"), Contains("cannot open") && Contains("nope"));
  }
}

TEST_CASE("idx pair errors: counts, ndims, label range, missing files", "[idx][errors]") {
  TempDir dir("idx-pair");
  write_bytes(dir / "img", tiny_images());
  write_bytes(dir / "lab", tiny_labels());
  write_bytes(dir / "lab2", idx_bytes({2}, {1, 2}));
  write_bytes(dir / "lab_bad", idx_bytes({3}, {1, 10, 2}));
  const auto names = mnist_class_names();
  REQUIRE_NOTHROW(load_idx_pair("t", dir / "img", dir / "lab", names));
  REQUIRE_THROWS_WITH(load_idx_pair("t", dir / "img", dir / "lab2", names),
                      Contains("has 3 images but") && Contains("has 2 labels"));
  REQUIRE_THROWS_WITH(load_idx_pair("t", dir / "img", dir / "lab_bad", names),
                      Contains("label 10 of item 1 at byte 9 is out of range (0..9)"));
  REQUIRE_THROWS_WITH(load_idx_pair("t", dir / "lab", dir / "lab", names),
                      Contains("images need 3 dimensions"));
  REQUIRE_THROWS_WITH(load_idx_pair("t", dir / "img", dir / "img", names),
                      Contains("labels need 1 dimension"));
  REQUIRE_THROWS_WITH(load_mnist(dir.path()), Contains("has no train-images-idx3-ubyte"));
  REQUIRE_THROWS_WITH(load_mnist(dir / "nowhere"), Contains("no such folder"));
}

TEST_CASE("the real Fashion-MNIST files of Debian's package", "[idx][fashion-mnist]") {
  std::error_code ec;
  if (!std::filesystem::is_directory(kFashionMnistDir, ec)) {
    WARN("skipped: " << kFashionMnistDir << " is absent (apt-get install dataset-fashion-mnist)");
    return;
  }
  const DatasetSplits s = load_fashion_mnist();
  REQUIRE(s.train.images.shape() == Shape{60000, 1, 28, 28});
  REQUIRE(s.test.images.shape() == Shape{10000, 1, 28, 28});
  const std::vector<std::int64_t> counts = class_counts(s.train);
  for (const std::int64_t c : counts) {
    CHECK(c == 6000);
  }
  // The published statistics of the training split: mean 0.2860, std 0.3530.
  const ChannelStats st = channel_stats(s.train);
  CHECK(st.mean[0] == Approx(0.2860).margin(5e-4));
  CHECK(st.std[0] == Approx(0.3530).margin(5e-4));
  // The first training image is an ankle boot (label 9), as in every Fashion-MNIST reader.
  CHECK(s.train.label(0) == 9);
  CHECK(s.test.label(0) == 9);
}

TEST_CASE("idx dimensions whose product overflows are a truncation, not an empty tensor",
          "[idx][errors][fuzz]") {
  // 65536^4 = 2^64, which wraps to 0 in 64 bits and used to match the 0 data bytes present.
  TempDir dir("idx");
  write_bytes(dir / "wrap", idx_bytes({65536, 65536, 65536, 65536}, {}));
  CHECK_THROWS_AS(read_idx(dir / "wrap"), IoError);
  CHECK_THROWS_WITH(read_idx(dir / "wrap"),
                    Contains("wrap") && Contains("truncated") && Contains("[65536, 65536"));
  // A zero dimension makes the product 0 whatever the others are; the strides of the others must
  // still fit, so this is a ShapeError rather than an empty tensor with overflowing strides.
  write_bytes(dir / "zero", idx_bytes({0, 4294967295u, 4294967295u, 4294967295u}, {}));
  CHECK_THROWS_AS(read_idx(dir / "zero"), ShapeError);
  write_bytes(dir / "empty", idx_bytes({0, 28, 28}, {}));
  CHECK(read_idx(dir / "empty").shape() == Shape{0, 28, 28});
}
