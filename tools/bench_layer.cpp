// tools/bench_layer.cpp: timing of one layer forward and forward + backward (tools/bench_layer.h).
#include "tools/bench_layer.h"

#include <fmt/format.h>

#include <chrono>

#include "autograd/variable.h"
#include "core/error.h"
#include "core/random.h"
#include "core/rng.h"
#include "layers/layer_table.h"
#include "tools/bench_stats.h"
#include "tools/gemm_work.h"

namespace normlab {

LayerBenchResult bench_layer(const LayerBenchRequest& r) {
  if (r.steps < 1 || r.repeats < 1 || r.warmup < 0) {
    throw ValueError("bench: --steps and --repeats must be at least 1, --warmup at least 0");
  }
  Rng rng(0);
  auto layer = make_layer(r.layer, r.options, r.dtype, rng);
  layer->train(r.train);
  Variable x(randn(r.shape, r.dtype, rng), true);
  const Tensor dy = randn(layer->forward_no_grad(x.data()).shape(), r.dtype, rng);
  const double flops = layer_forward_gemm_flops(*layer, dy.numel());
  auto forward = [&] { return layer->forward(x); };
  auto forward_backward = [&] {
    layer->zero_grad();
    x.zero_grad();
    forward().backward(dy);
  };
  for (int i = 0; i < r.warmup; ++i) {
    forward_backward();
  }
  std::vector<double> fwd, fwd_bwd;
  for (int rep = 0; rep < r.repeats; ++rep) {
    fwd.push_back(seconds_per_call(r.steps, [&] { (void)forward(); }));
    fwd_bwd.push_back(seconds_per_call(r.steps, forward_backward));
  }
  const double bytes = static_cast<double>(shape_numel(r.shape) * dtype_size(r.dtype));
  return {.forward_us = 1e6 * median(fwd),
          .forward_backward_us = 1e6 * median(fwd_bwd),
          .forward_bytes = 2.0 * bytes,
          .forward_backward_bytes = 5.0 * bytes,
          .forward_flops = flops,
          .forward_backward_flops = 3.0 * flops};
}

}  // namespace normlab
