// tools/gemm_work.h: the GEMM work of one training step of a model, counted from the shapes that
// its convolutions and linear layers see, so that `normlab bench` can put the achieved GFLOP/s of
// that work next to the machine's sgemm peak.
//   forward of a layer with output y:  2·numel(y)·K floating-point operations, where K is the
//     reduction length of its GEMM: (C/G)·kH·kW for a convolution (im2col + GEMM; WSConv2d too),
//     in_features for a linear layer;
//   backward: two GEMMs of the same size, ∂W and ∂x, except for a layer whose input needs no
//     gradient (the first one: the images), which computes ∂W only.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "layers/module.h"

namespace normlab {

struct GemmWork {
  double forward_flops = 0.0;  // one forward
  double step_flops = 0.0;     // forward + backward of one training step
  int layers = 0;              // convolutions and linear layers seen
};

// The GEMM work of one forward of `layer` itself when it is a convolution or a linear layer whose
// output has `output_numel` elements: 2·output_numel·K; 0 for any other layer. (`normlab bench
// --layer`: its input requires a gradient, so a forward + backward is three times this.)
double layer_forward_gemm_flops(const Module& layer, std::int64_t output_numel);

// Runs one forward of `model` on x (recording the graph, as a training step does) with an observer
// on every child, and counts the work above. The model's state changes as in one forward (e.g.
// BatchNorm's running statistics in training mode).
GemmWork count_gemm_work(Module& model, const Tensor& x);

}  // namespace normlab
