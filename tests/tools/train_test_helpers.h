// tests/tools/train_test_helpers.h: what the tests of the training driver share (no state):
// synthetic datasets of 8×8 gray images that the tiny CNN learns in a few steps, and the quick
// TrainConfig those tests start from.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "core/rng.h"
#include "datasets/dataset.h"
#include "tools/train_config.h"

namespace normlab::test {

// A synthetic dataset of gray 8×8 images: image i is of class i % classes.size(), and each pixel
// is bright or dark, plus a uniform integer in [0, noise).
struct GrayDataSpec {
  std::string name;  // the splits are "<name> train" and "<name> test"
  std::int64_t n_train = 0, n_test = 0;
  std::uint64_t seed = 0;  // of the training split; the test split's is seed + 1
  std::vector<std::string> classes;
  int bright = 0, dark = 0, noise = 1;
};

// One split of spec: n images, pixel (y, x) bright where is_bright(label, y, x) holds.
template <class IsBright>
Dataset gray_split(const GrayDataSpec& spec, std::string name, std::int64_t n, std::uint64_t seed,
                   const IsBright& is_bright) {
  Dataset d = make_dataset(std::move(name), n, 1, 8, 8, spec.classes);
  Rng rng(seed);
  auto* px = d.images.data<std::uint8_t>().data();
  const auto num_classes = static_cast<std::int64_t>(spec.classes.size());
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t label = i % num_classes;
    d.labels.set({i}, static_cast<double>(label));
    for (std::int64_t y = 0; y < 8; ++y) {
      for (std::int64_t x = 0; x < 8; ++x) {
        const int level = is_bright(label, y, x) ? spec.bright : spec.dark;
        px[i * 64 + y * 8 + x] = static_cast<std::uint8_t>(level + rng.randint(spec.noise));
      }
    }
  }
  return d;
}

// The training and test splits of spec.
template <class IsBright>
DatasetSplits gray_data(const GrayDataSpec& spec, const IsBright& is_bright) {
  DatasetSplits s;
  s.train = gray_split(spec, spec.name + " train", spec.n_train, spec.seed, is_bright);
  s.test = gray_split(spec, spec.name + " test", spec.n_test, spec.seed + 1, is_bright);
  s.class_names = spec.classes;
  return s;
}

// A quick run: two epochs of the tiny CNN at width 0.25 with BatchNorm (whose running statistics
// a test can watch), lr 0.05, one thread, no progress bar, written to out. Each test sets the
// batch size and the record intervals it needs.
inline TrainConfig quick_config(const std::filesystem::path& out) {
  TrainConfig c;
  c.model = "tiny";
  c.norm = "batch";
  c.width = 0.25;
  c.epochs = 2;
  c.lr = 0.05;
  c.threads = 1;
  c.progress = false;
  c.out = out.string();
  return c;
}

}  // namespace normlab::test
