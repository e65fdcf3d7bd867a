#include "datasets/dataset.h"

#include <fmt/format.h>

#include <array>
#include <cmath>

#include "core/error.h"

namespace normlab {

const std::uint8_t* Dataset::image(std::int64_t i) const {
  const std::int64_t chw = numel_from(images.shape(), 1);
  return images.data_ptr<std::uint8_t>() + i * chw;
}

std::int64_t Dataset::label(std::int64_t i) const {
  return labels.data_ptr<std::int64_t>()[i];
}

Dataset make_dataset(std::string name, std::int64_t n, std::int64_t C, std::int64_t H,
                     std::int64_t W, std::vector<std::string> class_names) {
  Dataset d;
  d.name = std::move(name);
  d.images = Tensor::empty({n, C, H, W}, DType::u8);
  d.labels = Tensor::empty({n}, DType::i64);
  d.class_names = std::move(class_names);
  return d;
}

void check_dataset(std::string_view op, const Dataset& d) {
  check_defined(op, d.images, "images");
  check_defined(op, d.labels, "labels");
  if (d.images.dtype() != DType::u8 || d.labels.dtype() != DType::i64) {
    throw DTypeError(fmt::format("{}: {} needs u8 images and i64 labels (images: {}, labels: {})",
                                 op, d.name, dtype_name(d.images.dtype()),
                                 dtype_name(d.labels.dtype())));
  }
  if (d.images.ndim() != 4 || d.labels.ndim() != 1 || d.labels.dim(0) != d.images.dim(0) ||
      !d.images.is_contiguous() || !d.labels.is_contiguous()) {
    throw ShapeError(
        fmt::format("{}: {} needs contiguous images (N, C, H, W) and labels (N) ({}, {})", op,
                    d.name, describe("images", d.images), describe("labels", d.labels)));
  }
  const std::int64_t K = d.num_classes();
  const std::span<const std::int64_t> y = d.labels.data<std::int64_t>();
  for (std::size_t i = 0; i < y.size(); ++i) {
    if (y[i] < 0 || y[i] >= K) {
      throw ValueError(fmt::format("{}: {}: image {} has label {} but there are {} classes", op,
                                   d.name, i, y[i], K));
    }
  }
}

std::vector<std::int64_t> class_counts(const Dataset& d) {
  std::vector<std::int64_t> counts(d.class_names.size(), 0);
  for (std::int64_t i = 0; i < d.size(); ++i) {
    const std::int64_t y = d.label(i);
    if (y >= 0 && y < d.num_classes()) {
      ++counts[static_cast<std::size_t>(y)];
    }
  }
  return counts;
}

// A 256-bin histogram per channel gives the exact moments of uint8 pixels in one pass over the
// data: μ_c = (1/m) Σ_v n_v·v/255,  σ_c² = (1/m) Σ_v n_v·(v/255 − μ_c)²  (two passes over 256
// bins).
ChannelStats channel_stats(const Dataset& d) {
  check_dataset("channel_stats", d);
  const std::int64_t N = d.size();
  const std::int64_t C = d.channels();
  const std::int64_t HW = d.height() * d.width();
  if (N == 0 || HW == 0) {
    throw ValueError(fmt::format("channel_stats: {} has no pixels (images: {})", d.name,
                                 to_string(d.images.shape())));
  }
  std::vector<std::array<std::int64_t, 256>> hist(static_cast<std::size_t>(C));
  for (auto& h : hist) {
    h.fill(0);
  }
  const std::uint8_t* x = d.images.data_ptr<std::uint8_t>();
  for (std::int64_t n = 0; n < N; ++n) {
    for (std::int64_t c = 0; c < C; ++c) {
      const std::uint8_t* plane = x + (n * C + c) * HW;
      std::array<std::int64_t, 256>& h = hist[static_cast<std::size_t>(c)];
      for (std::int64_t i = 0; i < HW; ++i) {
        ++h[plane[i]];
      }
    }
  }
  ChannelStats s;
  const double m = static_cast<double>(N * HW);
  for (const auto& h : hist) {
    double sum = 0.0;
    for (int v = 0; v < 256; ++v) {
      sum += static_cast<double>(h[static_cast<std::size_t>(v)]) * (v / 255.0);
    }
    const double mean = sum / m;
    double sq = 0.0;
    for (int v = 0; v < 256; ++v) {
      const double dev = v / 255.0 - mean;
      sq += static_cast<double>(h[static_cast<std::size_t>(v)]) * dev * dev;
    }
    s.mean.push_back(mean);
    s.std.push_back(std::sqrt(sq / m));
  }
  return s;
}

}  // namespace normlab
