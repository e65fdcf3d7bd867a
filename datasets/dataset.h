// datasets/dataset.h: an image classification split held once in memory as uint8 (N, C, H, W)
// pixels and int64 labels (N), plus the class names. CIFAR's 50,000 training images are 150 MB
// this way, not 600 MB of floats; the loader (datasets/loader.h) converts one batch at a time.
// See docs/datasets.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"

namespace normlab {

struct Dataset {
  std::string name;                      // "cifar10 train": the source and split, for messages
  Tensor images;                         // u8 (N, C, H, W), contiguous, pixel values 0..255
  Tensor labels;                         // i64 (N), each in [0, class_names.size())
  std::vector<std::string> class_names;  // index = label

  std::int64_t size() const { return images.defined() ? images.dim(0) : 0; }
  std::int64_t channels() const { return images.dim(1); }
  std::int64_t height() const { return images.dim(2); }
  std::int64_t width() const { return images.dim(3); }
  std::int64_t num_classes() const { return static_cast<std::int64_t>(class_names.size()); }
  // Pixels of image i, planar: C·H·W bytes.
  const std::uint8_t* image(std::int64_t i) const;
  std::int64_t label(std::int64_t i) const;
};

// A training and a test split that share their classes. A folder without split subfolders
// (root/<class>/<image>) has an empty test split (N = 0).
struct DatasetSplits {
  Dataset train;
  Dataset test;
  std::vector<std::string> class_names;
};

// Allocates an uninitialized dataset of n images of shape (C, H, W), ready to be filled.
Dataset make_dataset(std::string name, std::int64_t n, std::int64_t C, std::int64_t H,
                     std::int64_t W, std::vector<std::string> class_names);

// Checks the invariants above (dtypes, shapes, label range); ValueError/ShapeError naming `op`.
void check_dataset(std::string_view op, const Dataset& d);

// Number of images of each class: (num_classes) counts.
std::vector<std::int64_t> class_counts(const Dataset& d);

// Per-channel mean and standard deviation of the pixels scaled to [0, 1], over every image of d
// (use the training split). Two passes with double accumulators; std is the population std.
struct ChannelStats {
  std::vector<double> mean{};  // (C)
  std::vector<double> std{};   // (C)
};
ChannelStats channel_stats(const Dataset& d);

}  // namespace normlab
