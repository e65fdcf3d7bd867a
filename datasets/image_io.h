// datasets/image_io.h: decoding, resizing and writing single images through stb (libstb-dev:
// stb_image, stb_image_resize, stb_image_write). normlab keeps images planar (C, H, W) with
// C = 1 (gray) or 3 (RGB); stb works on interleaved pixels, so these functions convert.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

namespace normlab {

struct Image {
  std::int64_t C = 0, H = 0, W = 0;
  std::vector<std::uint8_t> pixels;  // planar (C, H, W)
};

// Decodes PNG, JPEG, BMP (and the other formats stb_image knows) into C = channels (1 or 3)
// planes; gray is stb's luma of RGB. IoError naming the path and stb's reason.
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
