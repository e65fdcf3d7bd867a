// layers/avg_pool2d.cpp: 2-D average pooling and global average pooling (formulas in
// layers/pooling.h). The divisor D follows PyTorch's avg_pool2d exactly.
#include <fmt/format.h>

#include <algorithm>

#include "autograd/node.h"
#include "core/error.h"
#include "core/threads.h"
#include "layers/pool_geometry.h"
#include "layers/pooling.h"

namespace normlab {

namespace {

using detail::PoolGeometry;

// The in-image rows [h0, h1) and columns [w0, w1) of window (oh, ow), and its divisor D.
struct AvgWindow {
  std::int64_t h0, h1, w0, w1, divisor;
};
AvgWindow avg_window(const PoolGeometry& g, std::int64_t oh, std::int64_t ow,
                     bool count_include_pad) {
  const Window2d& win = g.win;
  AvgWindow a{};
  a.h0 = oh * win.stride_h - win.pad_h;
  a.w0 = ow * win.stride_w - win.pad_w;
  a.h1 = std::min(a.h0 + win.kernel_h, g.H + win.pad_h);  // clipped to the padded image
  a.w1 = std::min(a.w0 + win.kernel_w, g.W + win.pad_w);
  const std::int64_t padded_area = (a.h1 - a.h0) * (a.w1 - a.w0);
  a.h0 = std::max<std::int64_t>(a.h0, 0), a.w0 = std::max<std::int64_t>(a.w0, 0);
  a.h1 = std::min(a.h1, g.H), a.w1 = std::min(a.w1, g.W);
  a.divisor = count_include_pad ? padded_area : (a.h1 - a.h0) * (a.w1 - a.w0);
  return a;
}

// forward, per plane: y = (1/D) Σ_{h∈[h0,h1), w∈[w0,w1)} x[h][w]     (accumulated in double)
template <class T>
void avg_pool2d_forward(const T* x, T* y, const PoolGeometry& g, bool count_include_pad) {
#pragma omp parallel for if (g.work() > kParallelGrain)
  for (std::int64_t p = 0; p < g.planes(); ++p) {
    const T* xp = x + p * g.H * g.W;
    for (std::int64_t oh = 0; oh < g.oH; ++oh) {
      for (std::int64_t ow = 0; ow < g.oW; ++ow) {
        const AvgWindow a = avg_window(g, oh, ow, count_include_pad);
        double acc = 0.0;
        for (std::int64_t h = a.h0; h < a.h1; ++h) {
          for (std::int64_t w = a.w0; w < a.w1; ++w) {
            acc += static_cast<double>(xp[h * g.W + w]);
          }
        }
        y[(p * g.oH + oh) * g.oW + ow] = static_cast<T>(acc / static_cast<double>(a.divisor));
      }
    }
  }
}

// backward, per plane: dx = 0;  dx[h][w] += dy[oh][ow] / D  for every window (oh, ow) holding (h,
// w)
template <class T>
void avg_pool2d_backward(const T* dy, T* dx, const PoolGeometry& g, bool count_include_pad) {
#pragma omp parallel for if (g.work() > kParallelGrain)
  for (std::int64_t p = 0; p < g.planes(); ++p) {
    T* dxp = dx + p * g.H * g.W;
    std::fill(dxp, dxp + g.H * g.W, T{0});
    for (std::int64_t oh = 0; oh < g.oH; ++oh) {
      for (std::int64_t ow = 0; ow < g.oW; ++ow) {
        const AvgWindow a = avg_window(g, oh, ow, count_include_pad);
        const T share = dy[(p * g.oH + oh) * g.oW + ow] / static_cast<T>(a.divisor);
        for (std::int64_t h = a.h0; h < a.h1; ++h) {
          for (std::int64_t w = a.w0; w < a.w1; ++w) {
            dxp[h * g.W + w] += share;
          }
        }
      }
    }
  }
}

PoolGeometry avg_geometry(const Tensor& x, Size2d kernel, const AvgPool2dOptions& o) {
  return detail::pool_geometry("avg_pool2d", x, kernel, o.stride.value_or(kernel), o.padding, 1);
}

struct AvgPool2dNode final : Node {
  PoolGeometry g{};
  bool count_include_pad = true;

  std::vector<Tensor> backward(const Tensor& dy) override {
    const Tensor dyc = dy.contiguous();
    Tensor dx = Tensor::empty({g.N, g.C, g.H, g.W}, dy.dtype());
    visit_float(dy.dtype(), "avg_pool2d_backward", [&]<class T>() {
      avg_pool2d_backward(dyc.data<T>().data(), dx.data<T>().data(), g, count_include_pad);
    });
    return {dx};
  }
  std::string_view name() const override { return "avg_pool2d"; }
};

// forward:  y[p] = (1/HW) Σ_hw x[p][hw]   (double accumulator);   backward: dx[p][hw] = dy[p] / HW
template <class T>
void global_avg_pool2d_forward(const T* x, T* y, std::int64_t planes, std::int64_t HW) {
#pragma omp parallel for if (planes * HW > kParallelGrain)
  for (std::int64_t p = 0; p < planes; ++p) {
    double acc = 0.0;
#pragma omp simd reduction(+ : acc)
    for (std::int64_t i = 0; i < HW; ++i) {
      acc += static_cast<double>(x[p * HW + i]);
    }
    y[p] = static_cast<T>(acc / static_cast<double>(HW));
  }
}
template <class T>
void global_avg_pool2d_backward(const T* dy, T* dx, std::int64_t planes, std::int64_t HW) {
#pragma omp parallel for if (planes * HW > kParallelGrain)
  for (std::int64_t p = 0; p < planes; ++p) {
    const T share = dy[p] / static_cast<T>(HW);
    std::fill(dx + p * HW, dx + (p + 1) * HW, share);
  }
}

void check_global(const Tensor& x) {
  check_defined("global_avg_pool2d", x, "x");
  if (x.ndim() != 4 || x.dim(2) * x.dim(3) == 0) {
    throw ShapeError(
        fmt::format("global_avg_pool2d: expected x of shape (N, C, H, W) with H, W >= 1 (x: {})",
                    to_string(x.shape())));
  }
}

struct GlobalAvgPool2dNode final : Node {
  Shape x_shape;
  std::vector<Tensor> backward(const Tensor& dy) override {
    const Tensor dyc = dy.contiguous();
    Tensor dx = Tensor::empty(x_shape, dy.dtype());
    visit_float(dy.dtype(), "global_avg_pool2d_backward", [&]<class T>() {
      global_avg_pool2d_backward(dyc.data<T>().data(), dx.data<T>().data(), x_shape[0] * x_shape[1],
                                 x_shape[2] * x_shape[3]);
    });
    return {dx};
  }
  std::string_view name() const override { return "global_avg_pool2d"; }
};

}  // namespace

Tensor avg_pool2d_forward(const Tensor& x, Size2d kernel_size, const AvgPool2dOptions& options) {
  const PoolGeometry g = avg_geometry(x, kernel_size, options);
  const Tensor xc = x.contiguous();
  Tensor y = Tensor::empty({g.N, g.C, g.oH, g.oW}, x.dtype());
  visit_float(x.dtype(), "avg_pool2d", [&]<class T>() {
    avg_pool2d_forward(xc.data<T>().data(), y.data<T>().data(), g, options.count_include_pad);
  });
  return y;
}

Variable avg_pool2d(const Variable& x, Size2d kernel_size, const AvgPool2dOptions& options) {
  Tensor y = avg_pool2d_forward(x.data(), kernel_size, options);
  if (!x.requires_grad()) {
    return Variable(std::move(y), false);
  }
  auto node = std::make_shared<AvgPool2dNode>();
  node->g = avg_geometry(x.data(), kernel_size, options);
  node->count_include_pad = options.count_include_pad;
  return make_output(std::move(y), std::move(node), {x});
}

Tensor global_avg_pool2d_forward(const Tensor& x) {
  check_global(x);
  const Tensor xc = x.contiguous();
  Tensor y = Tensor::empty({x.dim(0), x.dim(1), 1, 1}, x.dtype());
  visit_float(x.dtype(), "global_avg_pool2d", [&]<class T>() {
    global_avg_pool2d_forward(xc.data<T>().data(), y.data<T>().data(), x.dim(0) * x.dim(1),
                              x.dim(2) * x.dim(3));
  });
  return y;
}

Variable global_avg_pool2d(const Variable& x) {
  Tensor y = global_avg_pool2d_forward(x.data());
  if (!x.requires_grad()) {
    return Variable(std::move(y), false);
  }
  auto node = std::make_shared<GlobalAvgPool2dNode>();
  node->x_shape = x.shape();
  return make_output(std::move(y), std::move(node), {x});
}

AvgPool2d::AvgPool2d(Size2d kernel_size, const AvgPool2dOptions& options)
    : kernel_size_(kernel_size), options_(options) {
  const Size2d stride = options.stride.value_or(kernel_size);
  check_window("AvgPool2d", Window2d{kernel_size.h, kernel_size.w, stride.h, stride.w,
                                     options.padding.h, options.padding.w, 1, 1});
  if (2 * options.padding.h > kernel_size.h || 2 * options.padding.w > kernel_size.w) {
    throw ValueError(fmt::format("AvgPool2d: padding {} should be at most half of kernel_size {}",
                                 options.padding.repr(), kernel_size.repr()));
  }
}

Variable AvgPool2d::forward(const Variable& x) {
  return avg_pool2d(x, kernel_size_, options_);
}
Tensor AvgPool2d::forward_no_grad(const Tensor& x) {
  return avg_pool2d_forward(x, kernel_size_, options_);
}

std::string AvgPool2d::extra_repr() const {
  return fmt::format("kernel_size={}, stride={}, padding={}{}", kernel_size_.repr(),
                     options_.stride.value_or(kernel_size_).repr(), options_.padding.repr(),
                     options_.count_include_pad ? "" : ", count_include_pad=False");
}

}  // namespace normlab
