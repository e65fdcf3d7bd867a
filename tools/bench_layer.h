// tools/bench_layer.h: `normlab bench --layer`: one layer of the layer table, forward and
// forward + backward through the Variable path, timed as a PyTorch user would see it:
//   y = layer.forward(x)                    (x requires a gradient, so the node is recorded)
//   y = layer.forward(x); y.backward(dy)    (dx and every parameter's gradient)
// Blocks of `steps` calls of each kind alternate `repeats` times after `warmup` calls, and each
// figure is the median over its blocks. tools/bench_torch.py --layer measures PyTorch the same way.
#pragma once

#include <cstdint>
#include <string>

#include "core/dtype.h"
#include "core/shape.h"
#include "layers/layer_options.h"

namespace normlab {

struct LayerBenchRequest {
  std::string layer;  // a name of the layer table
  LayerOptions options;
  Shape shape;  // of x
  DType dtype = DType::f32;
  bool train = true;  // false: eval() first
  int steps = 20, repeats = 7, warmup = 3;
};

struct LayerBenchResult {
  double forward_us = 0.0;           // median µs per call
  double forward_backward_us = 0.0;  // median µs per forward + backward
  // The fewest bytes each pass must move through memory: forward reads x and writes y;
  // forward + backward also reads dy, reads x again (or what was saved of it) and writes dx.
  double forward_bytes = 0.0, forward_backward_bytes = 0.0;
  // The GEMM work of a convolution or linear layer (tools/gemm_work.h), 0 for any other layer:
  // forward 2·numel(y)·K; forward + backward three times that (∂x and ∂W).
  double forward_flops = 0.0, forward_backward_flops = 0.0;
};

// ValueError for a bad layer, option, or shape (from the layer table), or steps/repeats < 1.
LayerBenchResult bench_layer(const LayerBenchRequest& request);

}  // namespace normlab
