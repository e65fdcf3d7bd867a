// Image folders: PNG/BMP images in class folders come back pixel for pixel (JPEG within its
// loss), class names are the sorted folder names, both layouts work, sizes are unified by
// resizing or center cropping, and empty or broken folders are clear errors.
#include <stb/stb_image_write.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>

#include "core/error.h"
#include "datasets/image_folder.h"
#include "datasets/image_io.h"
#include "tests/datasets/dataset_files.h"

using namespace normlab;
using namespace normlab::testing;
using Catch::Matchers::Contains;

namespace {

// An interleaved RGB test image h × w: pixel (y, x) channel c = test_pixel(seed, c, y, x).
Bytes rgb_pixels(int seed, int h, int w) {
  Bytes p;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      for (int c = 0; c < 3; ++c) {
        p.push_back(test_pixel(seed, c, y, x));
      }
    }
  }
  return p;
}

void write_image(const std::filesystem::path& path, int seed, int h, int w) {
  std::filesystem::create_directories(path.parent_path());
  const Bytes p = rgb_pixels(seed, h, w);
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](char ch) { return std::tolower(ch); });
  int ok = 0;
  if (ext == ".png") {
    ok = stbi_write_png(path.c_str(), w, h, 3, p.data(), 3 * w);
  } else if (ext == ".bmp") {
    ok = stbi_write_bmp(path.c_str(), w, h, 3, p.data());
  } else {
    ok = stbi_write_jpg(path.c_str(), w, h, 3, p.data(), 100);
  }
  REQUIRE(ok != 0);
}

void require_pixels(const Dataset& d, std::int64_t i, int seed) {
  for (int c = 0; c < 3; ++c) {
    for (int y = 0; y < d.height(); ++y) {
      for (int x = 0; x < d.width(); ++x) {
        const int v = d.images.at<std::uint8_t>({i, c, y, x});
        if (v != test_pixel(seed, c, y, x)) {
          FAIL_CHECK("image " << i << " channel " << c << " (" << y << ", " << x << "): " << v);
          return;
        }
      }
    }
  }
}

}  // namespace

TEST_CASE("folder with train/test splits: sorted classes, exact PNG and BMP pixels", "[folder]") {
  TempDir dir("folder");
  write_image(dir / "train/dog/b.png", 1, 6, 5);
  write_image(dir / "train/dog/a.bmp", 2, 6, 5);
  write_image(dir / "train/cat/x.PNG", 3, 6, 5);
  write_image(dir / "test/dog/z.png", 4, 6, 5);
  write_bytes(dir / "train/cat/notes.txt", text_bytes("not an image"));
  const DatasetSplits s = load_image_folder(dir.path());
  REQUIRE(s.class_names == std::vector<std::string>{"cat", "dog"});
  REQUIRE(s.train.images.shape() == Shape{3, 3, 6, 5});
  REQUIRE(s.test.images.shape() == Shape{1, 3, 6, 5});
  // Order: classes sorted, then files sorted within a class.
  CHECK(s.train.label(0) == 0);
  require_pixels(s.train, 0, 3);
  CHECK(s.train.label(1) == 1);
  require_pixels(s.train, 1, 2);  // a.bmp
  CHECK(s.train.label(2) == 1);
  require_pixels(s.train, 2, 1);  // b.png
  CHECK(s.test.label(0) == 1);
  require_pixels(s.test, 0, 4);
}

TEST_CASE("folder without splits; JPEG; gray", "[folder]") {
  TempDir dir("folder-flat");
  write_image(dir / "b_class/1.jpg", 5, 8, 8);
  write_image(dir / "a_class/1.png", 6, 8, 8);
  const DatasetSplits s = load_image_folder(dir.path());
  REQUIRE(s.class_names == std::vector<std::string>{"a_class", "b_class"});
  REQUIRE(s.train.size() == 2);
  REQUIRE(s.test.size() == 0);
  REQUIRE(s.test.images.shape() == Shape{0, 3, 8, 8});
  // JPEG at quality 100 is lossy but close.
  int worst = 0;
  for (int c = 0; c < 3; ++c) {
    for (int y = 0; y < 8; ++y) {
      for (int x = 0; x < 8; ++x) {
        worst = std::max(worst, std::abs(s.train.images.at<std::uint8_t>({1, c, y, x}) -
                                         test_pixel(5, c, y, x)));
      }
    }
  }
  CHECK(worst < 24);
  const DatasetSplits g = load_image_folder(dir.path(), {.size = 0, .channels = 1});
  REQUIRE(g.train.images.shape() == Shape{2, 1, 8, 8});
  // stb's luma: (77 r + 150 g + 29 b) >> 8
  const int r = test_pixel(6, 0, 2, 3);
  const int gr = test_pixel(6, 1, 2, 3);
  const int b = test_pixel(6, 2, 2, 3);
  CHECK(g.train.images.at<std::uint8_t>({0, 0, 2, 3}) == (77 * r + 150 * gr + 29 * b) >> 8);
}

TEST_CASE("folder images of different sizes are resized or center-cropped", "[folder]") {
  TempDir dir("folder-size");
  write_image(dir / "a/wide.png", 1, 10, 20);
  write_image(dir / "a/square.png", 2, 8, 8);
  REQUIRE_THROWS_WITH(load_image_folder(dir.path()), Contains("pass an image size"));
  const DatasetSplits crop = load_image_folder(dir.path(), {.size = 8});
  REQUIRE(crop.train.images.shape() == Shape{2, 3, 8, 8});
  require_pixels(crop.train, 0, 2);  // square.png: already 8×8, untouched
  const DatasetSplits stretch =
      load_image_folder(dir.path(), {.size = 4, .resize = FolderResize::stretch});
  REQUIRE(stretch.train.images.shape() == Shape{2, 3, 4, 4});
}

TEST_CASE("resize_center_crop keeps the centre of the image", "[folder]") {
  // A 4×8 image whose left and right quarters are 0 and middle half 200: the center 4×4 crop
  // after no scaling (the short side is already 4) is all 200.
  Image img{1, 4, 8, std::vector<std::uint8_t>(32, 0)};
  for (std::size_t y = 0; y < 4; ++y) {
    for (std::size_t x = 2; x < 6; ++x) {
      img.pixels[y * 8 + x] = 200;
    }
  }
  const Image out = resize_center_crop(img, 4);
  REQUIRE(out.H == 4);
  REQUIRE(out.W == 4);
  for (const std::uint8_t v : out.pixels) {
    CHECK(v == 200);
  }
}

TEST_CASE("folder errors: missing, empty, empty class, undecodable image", "[folder][errors]") {
  TempDir dir("folder-err");
  REQUIRE_THROWS_WITH(load_image_folder(dir / "nope"), Contains("no such folder"));
  REQUIRE_THROWS_AS(load_image_folder(dir.path()), IoError);
  REQUIRE_THROWS_WITH(load_image_folder(dir.path()), Contains("has no class folders"));
  std::filesystem::create_directories(dir / "cat");
  REQUIRE_THROWS_WITH(load_image_folder(dir.path()),
                      Contains("cat has no images (.png, .jpg, .jpeg, .bmp)"));
  write_bytes(dir / "cat/broken.png", text_bytes("not a png at all"));
  REQUIRE_THROWS_WITH(load_image_folder(dir.path()),
                      Contains("cannot decode") && Contains("broken.png"));
  REQUIRE_THROWS_AS(load_image_folder(dir.path(), {.channels = 2}), ValueError);
}

TEST_CASE("a test split with a class the training split lacks is an error", "[folder][errors]") {
  TempDir dir("folder-split-err");
  write_image(dir / "train/a/1.png", 1, 4, 4);
  write_image(dir / "test/b/1.png", 1, 4, 4);
  REQUIRE_THROWS_WITH(load_image_folder(dir.path()),
                      Contains("is a class that the training split does not have"));
}
