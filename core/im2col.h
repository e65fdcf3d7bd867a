// core/im2col.h: unfolding a (C, H, W) image into the column matrix that turns a 2-D convolution
// into one GEMM (darknet's and Caffe's im2col), and its adjoint col2im for the backward pass.
//   col[(c·kH + i)·kW + j][oh·oW + ow] = x[c][oh·s_h − p_h + i·d_h][ow·s_w − p_w + j·d_w]
// (zero where the index falls into the padding). col2im sums every column entry back onto the
// pixel it was read from, so col2im is the transpose of im2col: ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace normlab {

// One sliding-window sweep over an H×W plane: kernel, stride, zero padding and dilation per axis.
// Shared by convolution and pooling.
struct Window2d {
  std::int64_t kernel_h = 1, kernel_w = 1;
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_h = 0, pad_w = 0;
  std::int64_t dilation_h = 1, dilation_w = 1;

  // out = ⌊(in + 2p − d(k − 1) − 1) / s⌋ + 1, as in PyTorch; 0 when the window does not fit.
  std::int64_t out_h(std::int64_t H) const;
  std::int64_t out_w(std::int64_t W) const;
};

// Checks k ≥ 1, s ≥ 1, p ≥ 0, d ≥ 1; ValueError naming op otherwise.
void check_window(std::string_view op, const Window2d& win);

// Unchecked kernels. x: (C, H, W) contiguous; col: (C·kH·kW, oH·oW), written entirely.
template <class T>
void im2col(const T* x, std::int64_t C, std::int64_t H, std::int64_t W, const Window2d& win,
            T* col);
// col: (C·kH·kW, oH·oW); dx: (C, H, W), overwritten with the sum of every column entry that read
// it.
template <class T>
void col2im(const T* col, std::int64_t C, std::int64_t H, std::int64_t W, const Window2d& win,
            T* dx);
// The same with col's rows `ld` elements apart (ld ≥ oH·oW): the column blocks of several images
// side by side in one matrix, for one GEMM over a batch of small images.
template <class T>
void im2col(const T* x, std::int64_t C, std::int64_t H, std::int64_t W, const Window2d& win, T* col,
            std::int64_t ld);
template <class T>
void col2im(const T* col, std::int64_t C, std::int64_t H, std::int64_t W, const Window2d& win,
            T* dx, std::int64_t ld);

// Checked Tensor forms (float32/float64). x: (C, H, W) → (C·kH·kW, oH·oW).
Tensor im2col(const Tensor& x, const Window2d& win);
// col: (C·kH·kW, oH·oW) → (C, H, W) for the given image shape.
Tensor col2im(const Tensor& col, const Shape& image_shape, const Window2d& win);

}  // namespace normlab
