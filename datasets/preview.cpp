#include "datasets/preview.h"

#include <fmt/format.h>
#include <stb/stb_easy_font.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"

namespace normlab {

namespace {

constexpr std::int64_t kGap = 6;  // pixels between images and cells
constexpr std::uint8_t kBackground = 32;
constexpr std::uint8_t kWhite[3] = {255, 255, 255};

std::string printable(std::string_view text) {
  std::string s(text);
  for (char& c : s) {
    if (c < 32 || c > 126) {
      c = '?';
    }
  }
  return s;
}

// Shortens text with ".." until it fits max_width pixels.
std::string fit_text(std::string_view text, std::int64_t max_width) {
  std::string s = printable(text);
  if (text_width(s) <= max_width) {
    return s;
  }
  while (!s.empty() && text_width(s + "..") > max_width) {
    s.pop_back();
  }
  return s + "..";
}

// Nearest-neighbour enlargement of a planar (C, H, W) image, C = 1 or 3, into the RGB canvas.
void blit(Image& canvas, const std::uint8_t* img, std::int64_t C, std::int64_t H, std::int64_t W,
          std::int64_t scale, std::int64_t x0, std::int64_t y0) {
  const std::int64_t CH = canvas.H;
  const std::int64_t CW = canvas.W;
  for (std::int64_t c = 0; c < 3; ++c) {
    const std::uint8_t* plane = img + (C == 1 ? 0 : c) * H * W;
    for (std::int64_t y = 0; y < H * scale && y0 + y < CH; ++y) {
      std::uint8_t* row = canvas.pixels.data() + (c * CH + y0 + y) * CW + x0;
      const std::uint8_t* src = plane + (y / scale) * W;
      for (std::int64_t x = 0; x < W * scale && x0 + x < CW; ++x) {
        row[x] = src[x / scale];
      }
    }
  }
}

}  // namespace

std::int64_t text_width(std::string_view text) {
  std::string s = printable(text);
  return stb_easy_font_width(s.data());
}

std::int64_t draw_text(Image& canvas, std::int64_t x, std::int64_t y, std::string_view text,
                       const std::uint8_t (&rgb)[3]) {
  std::string s = printable(text);
  // stb_easy_font emits axis-aligned quads of 4 vertices, 16 bytes each (x, y, z, color).
  std::vector<char> vbuf(s.size() * 400 + 64);
  const int quads = stb_easy_font_print(static_cast<float>(x), static_cast<float>(y), s.data(),
                                        nullptr, vbuf.data(), static_cast<int>(vbuf.size()));
  for (int q = 0; q < quads; ++q) {
    float v[4][4];
    std::memcpy(v, vbuf.data() + static_cast<std::ptrdiff_t>(q) * 64, sizeof(v));
    const auto qx0 = static_cast<std::int64_t>(std::lround(std::min(v[0][0], v[2][0])));
    const auto qx1 = static_cast<std::int64_t>(std::lround(std::max(v[0][0], v[2][0])));
    const auto qy0 = static_cast<std::int64_t>(std::lround(std::min(v[0][1], v[2][1])));
    const auto qy1 = static_cast<std::int64_t>(std::lround(std::max(v[0][1], v[2][1])));
    for (std::int64_t py = std::max<std::int64_t>(qy0, 0); py < std::min(qy1, canvas.H); ++py) {
      for (std::int64_t px = std::max<std::int64_t>(qx0, 0); px < std::min(qx1, canvas.W); ++px) {
        for (std::int64_t c = 0; c < 3; ++c) {
          canvas.pixels[static_cast<std::size_t>((c * canvas.H + py) * canvas.W + px)] = rgb[c];
        }
      }
    }
  }
  return stb_easy_font_width(s.data());
}

Image render_preview(const Dataset& d, const std::vector<std::int64_t>& indices,
                     const PreviewOptions& options) {
  check_dataset("preview", d);
  if (indices.empty() || options.columns < 1 || options.scale < 0) {
    throw ValueError(
        fmt::format("preview: need at least one image and one column (images: {}, "
                    "columns: {}, scale: {})",
                    indices.size(), options.columns, options.scale));
  }
  for (const std::int64_t k : indices) {
    if (k < 0 || k >= d.size()) {
      throw ValueError(
          fmt::format("preview: index {} out of range: {} has {} images", k, d.name, d.size()));
    }
  }
  const std::int64_t C = d.channels();
  const std::int64_t H = d.height();
  const std::int64_t W = d.width();
  const std::int64_t s =
      options.scale > 0 ? options.scale : std::max<std::int64_t>(1, 96 / std::max(H, W));
  const auto n = static_cast<std::int64_t>(indices.size());
  const std::int64_t cols = std::min(options.columns, n);
  const std::int64_t rows = (n + cols - 1) / cols;
  const std::int64_t cell_w = 2 * W * s + kGap;  // stored | augmented
  const std::int64_t cell_h = H * s + kTextHeight + 2;
  const std::string title =
      fmt::format("{}: left as stored, right augmented (crop padding {}, flip {})", d.name,
                  options.augment.crop_padding, options.augment.horizontal_flip ? "on" : "off");
  const std::int64_t width = std::max(kGap + cols * (cell_w + kGap), text_width(title) + 2 * kGap);
  const std::int64_t height = kGap + kTextHeight + kGap + rows * (cell_h + kGap);
  Image canvas{
      3, height, width,
      std::vector<std::uint8_t>(static_cast<std::size_t>(3 * height * width), kBackground)};
  draw_text(canvas, kGap, kGap, title, kWhite);
  std::vector<std::uint8_t> augmented(static_cast<std::size_t>(C * H * W));
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t k = indices[static_cast<std::size_t>(i)];
    const std::int64_t x0 = kGap + (i % cols) * (cell_w + kGap);
    const std::int64_t y0 = 2 * kGap + kTextHeight + (i / cols) * (cell_h + kGap);
    Rng rng(derive_seed(options.seed, 0, static_cast<std::uint64_t>(k)));
    augment_image(d.image(k), C, H, W, options.augment, rng, augmented.data());
    blit(canvas, d.image(k), C, H, W, s, x0, y0);
    blit(canvas, augmented.data(), C, H, W, s, x0 + W * s + kGap, y0);
    const std::int64_t y = d.label(k);
    const std::string label = fmt::format(
        "{} {}", k, y < d.num_classes() ? d.class_names[static_cast<std::size_t>(y)] : "?");
    draw_text(canvas, x0, y0 + H * s + 2, fit_text(label, cell_w), kWhite);
  }
  return canvas;
}

}  // namespace normlab
