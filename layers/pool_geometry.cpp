// layers/pool_geometry.cpp: the checks every pooling op makes at its Tensor boundary.
#include "layers/pool_geometry.h"

#include <fmt/format.h>

#include "core/error.h"

namespace normlab::detail {

PoolGeometry pool_geometry(std::string_view op, const Tensor& x, Size2d kernel, Size2d stride,
                           Size2d padding, Size2d dilation) {
  check_defined(op, x, "x");
  if (x.ndim() != 4) {
    throw ShapeError(
        fmt::format("{}: expected x of shape (N, C, H, W) (x: {})", op, to_string(x.shape())));
  }
  const Window2d win{.kernel_h = kernel.h,
                     .kernel_w = kernel.w,
                     .stride_h = stride.h,
                     .stride_w = stride.w,
                     .pad_h = padding.h,
                     .pad_w = padding.w,
                     .dilation_h = dilation.h,
                     .dilation_w = dilation.w};
  check_window(op, win);
  if (2 * padding.h > kernel.h || 2 * padding.w > kernel.w) {
    throw ValueError(fmt::format("{}: padding {} should be at most half of kernel_size {} (x: {})",
                                 op, padding.repr(), kernel.repr(), to_string(x.shape())));
  }
  PoolGeometry g{
      .N = x.dim(0), .C = x.dim(1), .H = x.dim(2), .W = x.dim(3), .oH = 0, .oW = 0, .win = win};
  g.oH = win.out_h(g.H), g.oW = win.out_w(g.W);
  if (g.oH < 1 || g.oW < 1) {
    throw ShapeError(fmt::format(
        "{}: kernel_size {} with dilation {} does not fit the input {}x{} padded by {} (x: {})", op,
        kernel.repr(), dilation.repr(), g.H, g.W, padding.repr(), to_string(x.shape())));
  }
  return g;
}

}  // namespace normlab::detail
