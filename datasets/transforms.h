// datasets/transforms.h: the per-image transforms of training-time data augmentation and input
// normalization, on planar uint8 images (C, H, W). Randomness comes from an Rng passed in; the
// loader seeds one per image from (seed, epoch, position) with derive_seed, so any batch of any
// epoch can be recomputed exactly, in any order and on any thread.
#pragma once

#include <cstdint>
#include <vector>

#include "core/rng.h"
#include "datasets/dataset.h"

namespace normlab {

// A seed for stream (a, b) of a run seeded with `seed`, mixed by splitmix64 so that neighbouring
// (a, b) give unrelated streams.
std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t a, std::uint64_t b);

struct AugmentOptions {
  std::int64_t crop_padding = 0;  // > 0: random H × W crop of the image zero-padded by this much
  bool horizontal_flip = false;   // mirror left-right with probability 1/2
};

// Random crop with zero padding (torchvision RandomCrop(size, padding)): the output pixel (y, x)
// is the padded input at (y + dy, x + dx), i.e. input (y + dy − pad, x + dx − pad) or 0 outside,
// for an offset dy, dx ∈ [0, 2·pad]. src, dst: (C, H, W), distinct buffers.
void crop_with_padding(const std::uint8_t* src, std::int64_t C, std::int64_t H, std::int64_t W,
                       std::int64_t pad, std::int64_t dy, std::int64_t dx, std::uint8_t* dst);

// Mirrors every row in place: x → W − 1 − x. img: (C, H, W).
void flip_horizontal(std::uint8_t* img, std::int64_t C, std::int64_t H, std::int64_t W);

// The augmentation of one image: draws dy, dx (if crop_padding > 0) and then the flip coin (if
// horizontal_flip), in that order, from rng. src, dst: (C, H, W), distinct buffers.
void augment_image(const std::uint8_t* src, std::int64_t C, std::int64_t H, std::int64_t W,
                   const AugmentOptions& options, Rng& rng, std::uint8_t* dst);

// Lookup table for x̂ = (x/255 − μ_c) / σ_c with the statistics of the training split
// (channel_stats in datasets/dataset.h); empty stats give x/255. table: (C, 256).
std::vector<float> normalize_table(const ChannelStats& stats, std::int64_t C);

// dst[c][i] = table[c][src[c][i]].  src: (C, HW) uint8, dst: (C, HW) float32.
void normalize_image(const std::uint8_t* src, std::int64_t C, std::int64_t HW,
                     const std::vector<float>& table, float* dst);

}  // namespace normlab
