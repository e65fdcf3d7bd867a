// PNG export is byte-exact to the source pixels (gray and RGB); the preview grid is drawn.
#include <stb/stb_image.h>

#include <catch2/catch.hpp>

#include "core/error.h"
#include "datasets/image_io.h"
#include "datasets/preview.h"
#include "tests/datasets/dataset_files.h"

using namespace normlab;
using namespace normlab::testing;
using Catch::Matchers::Contains;

TEST_CASE("write_png round-trips planar pixels exactly", "[image_io]") {
  const int C = GENERATE(1, 3);
  CAPTURE(C);
  TempDir dir("png");
  const int H = 7;
  const int W = 9;
  Bytes planar;
  for (int c = 0; c < C; ++c) {
    for (int y = 0; y < H; ++y) {
      for (int x = 0; x < W; ++x) {
        planar.push_back(test_pixel(0, c, y, x));
      }
    }
  }
  write_png(dir / "a.png", planar.data(), C, H, W);
  int w = 0;
  int h = 0;
  int n = 0;
  stbi_uc* back = stbi_load((dir / "a.png").c_str(), &w, &h, &n, 0);
  REQUIRE(back != nullptr);
  CHECK(w == W);
  CHECK(h == H);
  CHECK(n == C);
  // stb returns interleaved (H, W, C): pixel (y, x) channel c sits at (y·W + x)·C + c.
  bool same = true;
  for (int c = 0; c < C; ++c) {
    for (int i = 0; i < H * W; ++i) {
      same = same && back[i * C + c] ==
                         planar[static_cast<std::size_t>(c) * H * W + static_cast<std::size_t>(i)];
    }
  }
  stbi_image_free(back);
  CHECK(same);
  REQUIRE_THROWS_AS(write_png(dir / "b.png", planar.data(), 2, H, W), ValueError);
  REQUIRE_THROWS_AS(write_png(dir / "no/such/dir/c.png", planar.data(), C, H, W), IoError);
}

TEST_CASE("the preview grid shows both images and a label", "[preview]") {
  Dataset d = make_dataset("toy train", 3, 1, 4, 4, {"zero", "one"});
  for (std::int64_t i = 0; i < d.images.numel(); ++i) {
    d.images.data<std::uint8_t>()[static_cast<std::size_t>(i)] = 255;
  }
  d.labels.data<std::int64_t>()[0] = 0;
  d.labels.data<std::int64_t>()[1] = 1;
  d.labels.data<std::int64_t>()[2] = 1;
  PreviewOptions o;
  o.columns = 2;
  o.scale = 5;
  o.augment.crop_padding = 2;
  const Image img = render_preview(d, {0, 2}, o);
  REQUIRE(img.C == 3);
  REQUIRE(img.W >= std::int64_t{2} * 2 * 4 * 5);
  // The stored image of sample 0 is white at its scaled top-left corner: x = 6, y = 6 + 12 + 6.
  const std::int64_t y0 = 24;
  const std::int64_t x0 = 6;
  CHECK(img.pixels[static_cast<std::size_t>(y0 * img.W + x0)] == 255);
  // Label text was drawn: some white pixels in the label row under the image.
  std::int64_t lit = 0;
  for (std::int64_t y = y0 + 20; y < y0 + 20 + kTextHeight; ++y) {
    for (std::int64_t x = x0; x < x0 + 40; ++x) {
      lit += img.pixels[static_cast<std::size_t>(y * img.W + x)] == 255 ? 1 : 0;
    }
  }
  CHECK(lit > 10);
  REQUIRE_THROWS_WITH(render_preview(d, {3}, o), Contains("index 3 out of range"));
  CHECK(text_width("abc") > text_width("a"));
}
