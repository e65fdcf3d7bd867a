#include "datasets/transforms.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace normlab {

namespace {
std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
}  // namespace

std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t a, std::uint64_t b) {
  constexpr std::uint64_t kGolden = 0x9e3779b97f4a7c15ULL;
  return mix64(mix64(mix64(seed + kGolden) + a * kGolden) + b);
}

void crop_with_padding(const std::uint8_t* src, std::int64_t C, std::int64_t H, std::int64_t W,
                       std::int64_t pad, std::int64_t dy, std::int64_t dx, std::uint8_t* dst) {
  // Output row y reads input row sy = y + dy − pad; columns [x0, x1) of it come from input
  // columns x + dx − pad, the rest are zero padding.
  const std::int64_t x0 = std::clamp<std::int64_t>(pad - dx, 0, W);
  const std::int64_t x1 = std::clamp<std::int64_t>(W + pad - dx, 0, W);
  for (std::int64_t c = 0; c < C; ++c) {
    for (std::int64_t y = 0; y < H; ++y) {
      std::uint8_t* out = dst + (c * H + y) * W;
      const std::int64_t sy = y + dy - pad;
      if (sy < 0 || sy >= H || x1 <= x0) {
        std::memset(out, 0, static_cast<std::size_t>(W));
        continue;
      }
      const std::uint8_t* in = src + (c * H + sy) * W;
      std::memset(out, 0, static_cast<std::size_t>(x0));
      std::memcpy(out + x0, in + x0 + dx - pad, static_cast<std::size_t>(x1 - x0));
      std::memset(out + x1, 0, static_cast<std::size_t>(W - x1));
    }
  }
}

void flip_horizontal(std::uint8_t* img, std::int64_t C, std::int64_t H, std::int64_t W) {
  for (std::int64_t row = 0; row < C * H; ++row) {
    std::reverse(img + row * W, img + (row + 1) * W);
  }
}

void augment_image(const std::uint8_t* src, std::int64_t C, std::int64_t H, std::int64_t W,
                   const AugmentOptions& options, Rng& rng, std::uint8_t* dst) {
  const std::int64_t pad = options.crop_padding;
  if (pad > 0) {
    const std::int64_t dy = rng.randint(2 * pad + 1);
    const std::int64_t dx = rng.randint(2 * pad + 1);
    crop_with_padding(src, C, H, W, pad, dy, dx, dst);
  } else {
    std::memcpy(dst, src, static_cast<std::size_t>(C * H * W));
  }
  if (options.horizontal_flip && rng.bernoulli(0.5)) {
    flip_horizontal(dst, C, H, W);
  }
}

std::vector<float> normalize_table(const ChannelStats& stats, std::int64_t C) {
  const bool plain = stats.mean.empty() && stats.std.empty();
  if (!plain && (static_cast<std::int64_t>(stats.mean.size()) != C ||
                 static_cast<std::int64_t>(stats.std.size()) != C)) {
    throw ValueError(fmt::format("normalize: {} means and {} stds for {} channels",
                                 stats.mean.size(), stats.std.size(), C));
  }
  std::vector<float> table(static_cast<std::size_t>(C * 256));
  for (std::int64_t c = 0; c < C; ++c) {
    const double mean = plain ? 0.0 : stats.mean[static_cast<std::size_t>(c)];
    const double sd = plain ? 1.0 : stats.std[static_cast<std::size_t>(c)];
    if (!(sd > 0.0) || !std::isfinite(sd) || !std::isfinite(mean)) {
      throw ValueError(
          fmt::format("normalize: channel {} has mean {} and std {}; std must be a "
                      "positive number (a constant channel cannot be standardized)",
                      c, mean, sd));
    }
    for (int v = 0; v < 256; ++v) {
      table[static_cast<std::size_t>(c * 256 + v)] = static_cast<float>((v / 255.0 - mean) / sd);
    }
  }
  return table;
}

void normalize_image(const std::uint8_t* src, std::int64_t C, std::int64_t HW,
                     const std::vector<float>& table, float* dst) {
  for (std::int64_t c = 0; c < C; ++c) {
    const float* t = table.data() + c * 256;
    for (std::int64_t i = 0; i < HW; ++i) {
      dst[c * HW + i] = t[src[c * HW + i]];
    }
  }
}

}  // namespace normlab
