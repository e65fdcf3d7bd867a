// layers/conv2d_gemm.h: convolution as im2col + one GEMM per block of images and group
// (darknet's shape, with small images side by side so that each GEMM is large enough to run near
// peak). Each thread owns one column buffer, reused for every block and group it handles; blocks
// are split across threads when the batch is large. A 1×1 kernel with stride 1 and no padding on
// one image at a time skips im2col: the image itself is the column matrix. The backward's dx of a
// stride-1 convolution is a convolution of dy too (im2col of dy and one GEMM); strided ones use
// col2im. Every float64 convolution, and the float32 ones the direct kernel does not take
// (conv2d_geometry.h), run here.
#pragma once

#include "layers/conv2d_geometry.h"

namespace normlab::detail {

// y (N, O, oH, oW) = conv(x, w) + b; b may be null.
template <class T>
void conv2d_gemm_forward(const T* x, const T* w, const T* b, T* y, const ConvGeometry& g);

// dx, dW, db of the convolution given dy, each computed only when its pointer is not null (x is
// needed for dW, w for dx). dW is written, not accumulated.
template <class T>
void conv2d_gemm_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db,
                          const ConvGeometry& g);

}  // namespace normlab::detail
