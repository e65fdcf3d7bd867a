#include "datasets/image_io.h"

#include <fmt/format.h>
#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>
#include <stb/stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "core/error.h"
#include "datasets/file_reader.h"
#include "datasets/stb_guard.h"

namespace normlab {

namespace {

struct StbFree {
  void operator()(stbi_uc* p) const noexcept { stbi_image_free(p); }
};

const char* stb_reason() {
  return stbi_failure_reason() != nullptr ? stbi_failure_reason() : "unknown";
}

// PNG (89 'PNG' 0D 0A 1A 0A), JPEG (FF D8 FF) or BMP ('BM'), by the file's first bytes.
bool is_png_jpeg_or_bmp(std::span<const std::uint8_t> b) {
  constexpr std::uint8_t kPng[] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  constexpr std::uint8_t kJpeg[] = {0xFF, 0xD8, 0xFF};
  const auto starts_with = [&](std::span<const std::uint8_t> magic) {
    return b.size() >= magic.size() && std::equal(magic.begin(), magic.end(), b.begin());
  };
  return starts_with(kPng) || starts_with(kJpeg) || (b.size() >= 2 && b[0] == 'B' && b[1] == 'M');
}

}  // namespace

void planar_to_interleaved(const std::uint8_t* planar, std::int64_t C, std::int64_t HW,
                           std::uint8_t* interleaved) {
  for (std::int64_t c = 0; c < C; ++c) {
    for (std::int64_t i = 0; i < HW; ++i) {
      interleaved[i * C + c] = planar[c * HW + i];
    }
  }
}

void interleaved_to_planar(const std::uint8_t* interleaved, std::int64_t C, std::int64_t HW,
                           std::uint8_t* planar) {
  for (std::int64_t c = 0; c < C; ++c) {
    for (std::int64_t i = 0; i < HW; ++i) {
      planar[c * HW + i] = interleaved[i * C + c];
    }
  }
}

Image decode_image(std::span<const std::uint8_t> bytes, std::string_view name, int channels) {
  if (channels != 1 && channels != 3) {
    throw ValueError(
        fmt::format("read_image: channels must be 1 or 3, got {} ({})", channels, name));
  }
  if (!is_png_jpeg_or_bmp(bytes)) {
    throw IoError(fmt::format("image: cannot decode {}: not a PNG, JPEG or BMP file", name));
  }
  // Faults of stb_image 2.27 that a crafted file reaches (datasets/stb_guard.h).
  const bool jpeg = bytes[0] == 0xFF;
  const bool png = bytes[0] == 0x89;
  const auto problem = jpeg  ? jpeg_huffman_problem(bytes)
                       : png ? png_chunk_problem(bytes)
                             : std::optional<std::string>();
  if (problem) {
    throw IoError(fmt::format("image: cannot decode {}: corrupt {}: {}", name,
                              jpeg ? "JPEG" : "PNG", *problem));
  }
  // stb takes an int length; no image file normlab reads comes near 2 GB.
  if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw IoError(fmt::format("image: {}: file of {} bytes is too large", name, bytes.size()));
  }
  const int len = static_cast<int>(bytes.size());
  int w = 0;
  int h = 0;
  int in_file = 0;
  if (stbi_info_from_memory(bytes.data(), len, &w, &h, &in_file) == 0) {
    throw IoError(fmt::format("image: cannot decode {}: {}", name, stb_reason()));
  }
  const std::int64_t pixels = std::int64_t{w} * h;
  const std::int64_t justified =
      std::min(kMaxImagePixels, kMaxPixelsPerByte * static_cast<std::int64_t>(bytes.size()));
  if (w <= 0 || h <= 0 || pixels > justified) {
    throw IoError(fmt::format(
        "image: {}: header claims {}x{} pixels, more than a {}-byte file can hold (limit {})", name,
        w, h, bytes.size(), justified));
  }
  std::unique_ptr<stbi_uc, StbFree> data(
      stbi_load_from_memory(bytes.data(), len, &w, &h, &in_file, channels));
  if (!data) {
    throw IoError(fmt::format("image: cannot decode {}: {}", name, stb_reason()));
  }
  Image img{channels, h, w, {}};
  img.pixels.resize(static_cast<std::size_t>(channels) * static_cast<std::size_t>(w) *
                    static_cast<std::size_t>(h));
  interleaved_to_planar(data.get(), channels, std::int64_t{w} * h, img.pixels.data());
  return img;
}

Image read_image(const std::filesystem::path& path, int channels) {
  if (channels != 1 && channels != 3) {
    throw ValueError(
        fmt::format("read_image: channels must be 1 or 3, got {} ({})", channels, path.string()));
  }
  return decode_image(read_file_bytes("image", path), path.string(), channels);
}

Image resize_image(const Image& img, std::int64_t H, std::int64_t W) {
  if (H <= 0 || W <= 0) {
    throw ValueError(fmt::format("resize_image: target size {}x{} must be positive", H, W));
  }
  if (img.H == H && img.W == W) {
    return img;
  }
  std::vector<std::uint8_t> src(img.pixels.size());
  planar_to_interleaved(img.pixels.data(), img.C, img.H * img.W, src.data());
  std::vector<std::uint8_t> dst(static_cast<std::size_t>(img.C * H * W));
  const int C = static_cast<int>(img.C);
  if (stbir_resize_uint8(src.data(), static_cast<int>(img.W), static_cast<int>(img.H), 0,
                         dst.data(), static_cast<int>(W), static_cast<int>(H), 0, C) == 0) {
    throw ValueError(
        fmt::format("resize_image: stb_image_resize failed ({}x{} -> {}x{})", img.H, img.W, H, W));
  }
  Image out{img.C, H, W, std::vector<std::uint8_t>(dst.size())};
  interleaved_to_planar(dst.data(), img.C, H * W, out.pixels.data());
  return out;
}

Image resize_center_crop(const Image& img, std::int64_t size) {
  // Shorter side -> size, rounded like torchvision: the longer side becomes ⌊size·long/short⌋.
  const std::int64_t short_side = std::min(img.H, img.W);
  const std::int64_t H = img.H == short_side ? size : size * img.H / short_side;
  const std::int64_t W = img.W == short_side ? size : size * img.W / short_side;
  const Image scaled = resize_image(img, H, W);
  const std::int64_t top = (H - size) / 2;
  const std::int64_t left = (W - size) / 2;
  Image out{img.C, size, size,
            std::vector<std::uint8_t>(static_cast<std::size_t>(img.C * size * size))};
  for (std::int64_t c = 0; c < img.C; ++c) {
    for (std::int64_t y = 0; y < size; ++y) {
      const std::uint8_t* row = scaled.pixels.data() + (c * H + top + y) * W + left;
      std::copy(row, row + size, out.pixels.data() + (c * size + y) * size);
    }
  }
  return out;
}

void write_png(const std::filesystem::path& path, const std::uint8_t* planar, std::int64_t C,
               std::int64_t H, std::int64_t W) {
  if (C != 1 && C != 3) {
    throw ValueError(
        fmt::format("write_png: {}: images need 1 or 3 channels, got {}", path.string(), C));
  }
  std::vector<std::uint8_t> interleaved(static_cast<std::size_t>(C * H * W));
  planar_to_interleaved(planar, C, H * W, interleaved.data());
  const int stride = static_cast<int>(W * C);
  if (stbi_write_png(path.c_str(), static_cast<int>(W), static_cast<int>(H), static_cast<int>(C),
                     interleaved.data(), stride) == 0) {
    throw IoError(fmt::format("write_png: cannot write {}", path.string()));
  }
}

}  // namespace normlab
