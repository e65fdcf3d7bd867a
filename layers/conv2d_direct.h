// layers/conv2d_direct.h: a stride-1 convolution of one image computed straight from a zero-padded
// copy of the image, with no column matrix: the AVX-512 kernel that Conv2d uses for float32 on
// processors that have AVX-512, in place of im2col + GEMM (layers/conv2d_geometry.cpp says when).
//   y[o][oh][ow] = b[o] + Σ_c Σ_(i,j) w[o][c][i][j] · xp[c][oh + d_h·i][ow + d_w·j]
// where xp is x padded by (p_h, p_w) zeros on each side.
#pragma once

#include <cstdint>
#include <vector>

#include "core/im2col.h"

namespace normlab {

// True when this processor runs the kernel (AVX-512 F). The answer is fixed for the process.
bool direct_conv2d_supported();

// The per-call tables of one geometry, shared by every image and thread: the offset of each of
// the K = C·kH·kW taps in the padded image, and the chunks of 16 output positions.
// Outputs are indexed on the padded grid q = oh·Wp + ow, so the 16 positions of a chunk read 16
// contiguous padded inputs for every tap. A chunk is either part of one row (masked store) or 16
// consecutive grid positions across rows, whose lanes with ow ≥ oW (the padding columns) are
// computed and never stored (compressing store); the weight gradient always walks the grid.
class DirectConv2dPlan {
 public:
  // x: (C, H, W), output (oH, oW) of win, which must have stride 1 (ValueError otherwise).
  DirectConv2dPlan(std::int64_t C, std::int64_t H, std::int64_t W, const Window2d& win);

  // Floats of one thread's padded image (C·Hp·Wp, plus a tail that the last chunk may read).
  std::int64_t padded_size() const { return channels_ * padded_height_ * padded_width_ + kTail; }
  std::int64_t taps() const { return static_cast<std::int64_t>(offsets_.size()); }

  // Writes x (C, H, W) into the interior of xp; the padding of xp must already be zero (the
  // caller zero-fills xp once and every image overwrites only the interior).
  void pad_image(const float* x, float* xp) const;

  // The weights w (O, K) of one group, and its bias (or nullptr for zeros), laid out for
  // convolve: per tile of 8 channels a (K, 8) block, tap-major, zero-padded to 8, then the biases.
  // pack_weight_tile writes tile t alone (channels 8t to 8t + 7, zeros past O), so threads can
  // share the packing; pack_biases writes the biases after the last tile.
  std::int64_t packed_weight_size(std::int64_t O) const;
  std::int64_t weight_tiles(std::int64_t O) const;
  void pack_weights(const float* w, const float* bias, std::int64_t O, float* packed) const;
  void pack_weight_tile(const float* w, std::int64_t O, std::int64_t t, float* packed) const;
  void pack_biases(const float* bias, std::int64_t O, float* packed) const;

  // y (O, oH·oW) = bias + w (O, K) · taps(xp), for one padded image xp and pack_weights' layout.
  void convolve(const float* xp, const float* packed, std::int64_t O, float* y) const;

  // Floats of one output channel on the padded grid (whole chunks of 16 positions).
  std::int64_t grid_size() const { return (grid_positions_ + 15) / 16 * 16; }

  // Writes dy (O, oH, oW) onto the padded grid dyq (O, grid_size()); the positions ow ≥ oW of dyq
  // must already be zero (the caller zero-fills dyq once, as with pad_image).
  void spread_output(const float* dy, std::int64_t O, float* dyq) const;

  // dW (O, K) += Σ_n Σ_q dyq_n[o][q] · xp_n[q + offset_k], the weight gradient of `images` padded
  // images (padded_size() floats apart) and their dy grids (O·grid_size() floats apart): each
  // (o, k) sums in 16 float lanes, added together at the end.
  void accumulate_weight_grad(const float* xp, const float* dyq, std::int64_t images,
                              std::int64_t O, float* dw) const;

 private:
  static constexpr std::int64_t kTail = 64;
  struct Chunk {
    std::int64_t q0;     // first padded-grid position
    std::int64_t out;    // index in y of its first stored position
    std::uint32_t keep;  // lanes that are real outputs (ow < oW), as a 16-bit mask
  };
  std::int64_t channels_, height_, width_, padded_height_, padded_width_, out_height_, out_width_,
      pad_top_, pad_left_, grid_positions_ = 0;
  std::vector<std::int64_t> offsets_;
  std::vector<Chunk> chunks_;
};

// A grouped batch: y (N, G·Og, oH, oW) = b + conv(x (N, G·Cg, H, W), w (G·Og, Cg, kH, kW)), with
// threads over the images when parallel. Each thread pads one image at a time into its own buffer.
void direct_conv2d_forward(const float* x, const float* w, const float* b, float* y, std::int64_t N,
                           std::int64_t G, std::int64_t Cg, std::int64_t H, std::int64_t W,
                           std::int64_t Og, const Window2d& win, bool parallel);

// dW (G·Og, Cg, kH, kW) += the weight gradient of the batch, for dy (N, G·Og, oH, oW). With
// threads, thread 0 adds into dw and each other thread into a partial sum of its own, added to dw
// in thread order at the end.
void direct_conv2d_weight_grad(const float* x, const float* dy, float* dw, std::int64_t N,
                               std::int64_t G, std::int64_t Cg, std::int64_t H, std::int64_t W,
                               std::int64_t Og, const Window2d& win, bool parallel);

}  // namespace normlab
