// datasets/image_io.h: decoding, resizing and writing single images through stb (libstb-dev:
// stb_image, stb_image_resize, stb_image_write). normlab keeps images planar (C, H, W) with
// C = 1 (gray) or 3 (RGB); stb works on interleaved pixels, so these functions convert.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string_view>
#include <vector>

namespace normlab {

struct Image {
  std::int64_t C = 0, H = 0, W = 0;
  std::vector<std::uint8_t> pixels;  // planar (C, H, W)
};

// The largest image decode_image accepts: 2^28 pixels, and at most kMaxPixelsPerByte pixels per
// byte of the file. No PNG, JPEG or BMP holds more (deflate expands at most 1032:1, a flat JPEG
// 16×16 block needs a few bits, a BMP at least one bit per pixel), so a header that claims more
// is rejected before the pixel buffer is allocated.
inline constexpr std::int64_t kMaxImagePixels = std::int64_t{1} << 28;
inline constexpr std::int64_t kMaxPixelsPerByte = 2048;

// Decodes a PNG, JPEG or BMP file held in memory into C = channels (1 or 3) planes; gray is stb's
// luma of RGB. Other formats are refused by their first bytes, so stb's less-used decoders (GIF,
// PSD, PIC, PNM, HDR, TGA) never see the input. IoError naming `name` and the reason (stb's).
Image decode_image(std::span<const std::uint8_t> bytes, std::string_view name, int channels);

// read_file_bytes then decode_image.
Image read_image(const std::filesystem::path& path, int channels);

// Area/Mitchell resampling to (H, W) with stb_image_resize; a copy when the size already matches.
Image resize_image(const Image& img, std::int64_t H, std::int64_t W);

// Scales the shorter side to `size` keeping the aspect ratio, then keeps the centered
// size × size window (torchvision's Resize(size) followed by CenterCrop(size)).
Image resize_center_crop(const Image& img, std::int64_t size);

// Writes planar (C, H, W) bytes, C = 1 or 3, as an 8-bit gray or RGB PNG whose pixels are exactly
// these bytes. IoError when the file cannot be written.
void write_png(const std::filesystem::path& path, const std::uint8_t* planar, std::int64_t C,
               std::int64_t H, std::int64_t W);

// Planar (C, H, W) <-> interleaved (H, W, C).
void planar_to_interleaved(const std::uint8_t* planar, std::int64_t C, std::int64_t HW,
                           std::uint8_t* interleaved);
void interleaved_to_planar(const std::uint8_t* interleaved, std::int64_t C, std::int64_t HW,
                           std::uint8_t* planar);

}  // namespace normlab
