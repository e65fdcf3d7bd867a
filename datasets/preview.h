// datasets/preview.h: a picture of what the model sees. A grid of dataset images, each shown as
// stored and as augmented side by side, enlarged with nearest-neighbour scaling and labelled
// with its index and class name drawn in stb_easy_font's built-in vector font.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/image_io.h"
#include "datasets/transforms.h"

namespace normlab {

struct PreviewOptions {
  std::int64_t columns = 4;  // samples per row of the grid
  std::int64_t scale = 0;    // pixel enlargement; 0: chosen so an image is about 96 pixels
  AugmentOptions augment{};  // what the right image of each pair shows
  std::uint64_t seed = 0;    // image k is augmented with Rng(derive_seed(seed, 0, k))
};

// An RGB canvas (3, H, W) holding the grid of dataset images `indices`, with a title line.
// ValueError for an index out of range.
Image render_preview(const Dataset& d, const std::vector<std::int64_t>& indices,
                     const PreviewOptions& options);

// Draws printable ASCII text with its top-left corner at (x, y) in an RGB canvas (3, H, W),
// clipped to the canvas; other characters are drawn as '?'. Returns the width in pixels.
std::int64_t draw_text(Image& canvas, std::int64_t x, std::int64_t y, std::string_view text,
                       const std::uint8_t (&rgb)[3]);
std::int64_t text_width(std::string_view text);  // in pixels, one line
inline constexpr std::int64_t kTextHeight = 12;  // one line of text, pixels

}  // namespace normlab
