// layers/conv2d_geometry.h: a convolution's sizes, checked once, and the choice of path that
// Conv2d makes from them: the direct kernel (conv2d_direct.h) or im2col + GEMM (conv2d_gemm.h),
// images side by side or one per GEMM, threads or not, and how dx is computed. Internal to
// layers/conv2d*.cpp.
#pragma once

#include <cstdint>

#include "core/im2col.h"
#include "core/tensor.h"
#include "layers/conv2d.h"

namespace normlab::detail {

struct ConvGeometry {
  std::int64_t N, C, H, W, O, G, Cg, Og, oH, oW;
  std::int64_t K, L;  // K = Cg·kH·kW rows of col, L = oH·oW columns
  Window2d win;
  std::int64_t B;  // images side by side in one GEMM (small maps), see images_per_gemm
  bool pointwise;  // 1×1, stride 1, padding 0: col = x
  bool parallel;   // split the blocks of images across threads
  bool direct;     // float32, stride 1, on AVX-512, a map of 16×16 or few weights: the direct
                   // kernel (conv2d_direct.h) for the forward and dx; kDirectForwardMapWeights
  bool direct_weight_grad;  // and for dW: kDirectSmallMapWeights, kDirectWeightGradTaps
};

// The sizes of conv2d(x, w, b, p) and its path (layers/conv2d_geometry.cpp says why each choice
// is made). ShapeError or ValueError naming conv2d and every operand's shape for a bad input.
ConvGeometry conv_geometry(const Tensor& x, const Tensor& w, const Tensor& b,
                           const Conv2dParams& p);

// Whether dx is a stride-1 convolution of dy (stride 1, padding at most d(k − 1)), whether the
// GEMM path computes it that way, and whether the direct kernel does.
bool dx_is_a_convolution_of_dy(const ConvGeometry& g);
bool dx_by_transposed_conv(const ConvGeometry& g);
bool dx_by_direct_conv(const ConvGeometry& g);

// The window that slides over dy (oH, oW) to give dx (H, W) when dx is a convolution of dy.
Window2d transposed_window(const ConvGeometry& g);

// wt[gr][c][(o·kH + i)·kW + j] = w[gr·Og + o][c][kH−1−i][kW−1−j]: per group a (Cg, Og·kH·kW)
// matrix, the weights of dx as a convolution of dy. Threads over rows when g.parallel.
template <class T>
void flip_transpose_weight(const T* w, const ConvGeometry& g, T* wt);

}  // namespace normlab::detail
