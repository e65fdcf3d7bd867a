// layers/pool_geometry.h: the checked geometry that max and average pooling share.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/im2col.h"
#include "core/tensor.h"
#include "layers/layer_util.h"

namespace normlab::detail {

struct PoolGeometry {
  std::int64_t N, C, H, W, oH, oW;
  Window2d win;
  std::int64_t planes() const { return N * C; }
  std::int64_t work() const { return N * C * oH * oW * win.kernel_h * win.kernel_w; }
};

// x: (N, C, H, W). Checks the window (k, s, d >= 1, 0 <= p <= k/2) and that the output is not
// empty; ShapeError/ValueError naming op and x otherwise.
PoolGeometry pool_geometry(std::string_view op, const Tensor& x, Size2d kernel, Size2d stride,
                           Size2d padding, Size2d dilation);

}  // namespace normlab::detail
