// layers/max_pool2d.cpp: 2-D max pooling with saved argmax (formulas in layers/pooling.h).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "autograd/node.h"
#include "core/error.h"
#include "core/multiversion.h"
#include "core/threads.h"
#include "layers/pool_geometry.h"
#include "layers/pooling.h"

namespace normlab {

namespace {

using detail::PoolGeometry;

// The 2×2 window with stride 2 and neither padding nor dilation (every model of models/): each
// output reads two pairs of neighbours, with no bounds to check. Same result and same argmax rule
// as the general loop below.
bool is_plain_2x2(const PoolGeometry& g) {
  const Window2d& w = g.win;
  return w.kernel_h == 2 && w.kernel_w == 2 && w.stride_h == 2 && w.stride_w == 2 && w.pad_h == 0 &&
         w.pad_w == 0 && w.dilation_h == 1 && w.dilation_w == 1;
}

// v replaces the running maximum if it is larger, or NaN while the maximum is not.
template <class T>
[[gnu::always_inline]] inline bool takes_over(T v, T best) {
  return v > best || (v != v && best == best);  // NOLINT(misc-redundant-expression): NaN tests
}

// Outputs [ow0, ow0 + kLanes) of one row of the 2×2 window: the four candidates in row-major window
// order, each taken with a select, with no window bounds or padding to test. kLanes is fixed at
// compile time, so the loop is kLanes wide with no scalar remainder.
template <std::int64_t kLanes, class T>
[[gnu::always_inline]] inline void max_pool2d_outputs_2x2(const T* top, const T* bottom,
                                                          std::int64_t ow0, std::int64_t top_index,
                                                          std::int64_t W, T* y, std::int64_t* idx) {
#pragma omp simd
  for (std::int64_t ow = ow0; ow < ow0 + kLanes; ++ow) {
    const std::int64_t w = 2 * ow;
    const T c1 = top[w + 1], c2 = bottom[w], c3 = bottom[w + 1];
    T best = top[w];
    std::int64_t arg = top_index + w;
    const bool t1 = takes_over(c1, best);
    best = t1 ? c1 : best;
    arg = t1 ? top_index + w + 1 : arg;
    const bool t2 = takes_over(c2, best);
    best = t2 ? c2 : best;
    arg = t2 ? top_index + W + w : arg;
    const bool t3 = takes_over(c3, best);
    best = t3 ? c3 : best;
    arg = t3 ? top_index + W + w + 1 : arg;
    y[ow] = best;
    idx[ow] = arg;
  }
}

// One row of oW outputs in chunks of kLanes (oW >= kLanes); the last chunk ends at oW and may
// overlap the one before it, which rewrites the same values. The maps of models/ pool rows of 16,
// 14, 8, 7 and 4 outputs: a plain vector loop would run most of them in its scalar, branching
// remainder.
template <std::int64_t kLanes, class T>
[[gnu::always_inline]] inline void max_pool2d_row_in_chunks(const T* top, const T* bottom,
                                                            std::int64_t oW, std::int64_t top_index,
                                                            std::int64_t W, T* y,
                                                            std::int64_t* idx) {
  for (std::int64_t ow0 = 0; ow0 < oW; ow0 += kLanes) {
    max_pool2d_outputs_2x2<kLanes>(top, bottom, std::min(ow0, oW - kLanes), top_index, W, y, idx);
  }
}

template <class T>
[[gnu::always_inline]] inline void max_pool2d_row_2x2(const T* top, const T* bottom,
                                                      std::int64_t oW, std::int64_t top_index,
                                                      std::int64_t W, T* y, std::int64_t* idx) {
  if (oW >= 16) {
    max_pool2d_row_in_chunks<16>(top, bottom, oW, top_index, W, y, idx);
  } else if (oW >= 8) {
    max_pool2d_row_in_chunks<8>(top, bottom, oW, top_index, W, y, idx);
  } else if (oW >= 4) {
    max_pool2d_row_in_chunks<4>(top, bottom, oW, top_index, W, y, idx);
  } else {
    max_pool2d_row_in_chunks<1>(top, bottom, oW, top_index, W, y, idx);
  }
}

// The row kernel compiled for AVX-512, AVX2 and the baseline (core/multiversion.h): the selects
// over float values and int64 positions vectorize with AVX-512's masks.
NORMLAB_MULTIVERSION void pool_row_2x2(const float* top, const float* bottom, std::int64_t oW,
                                       std::int64_t top_index, std::int64_t W, float* y,
                                       std::int64_t* idx) {
  max_pool2d_row_2x2(top, bottom, oW, top_index, W, y, idx);
}
NORMLAB_MULTIVERSION void pool_row_2x2(const double* top, const double* bottom, std::int64_t oW,
                                       std::int64_t top_index, std::int64_t W, double* y,
                                       std::int64_t* idx) {
  max_pool2d_row_2x2(top, bottom, oW, top_index, W, y, idx);
}

template <class T>
void max_pool2d_forward_2x2(const T* x, T* y, std::int64_t* idx, const PoolGeometry& g) {
  std::vector<std::int64_t> scratch(idx == nullptr ? static_cast<std::size_t>(g.oW) : 0);
#pragma omp parallel for firstprivate(scratch) if (g.work() > kParallelGrain)
  for (std::int64_t p = 0; p < g.planes(); ++p) {
    for (std::int64_t oh = 0; oh < g.oH; ++oh) {
      const std::int64_t h = 2 * oh, o = (p * g.oH + oh) * g.oW;
      const T* top = x + (p * g.H + h) * g.W;
      pool_row_2x2(top, top + g.W, g.oW, h * g.W, g.W, y + o,
                   idx != nullptr ? idx + o : scratch.data());
    }
  }
}

// forward, per plane: y = max over the window's in-image positions; idx = flat h·W + w of the
// first maximum (row-major window order), or of the first NaN. idx may be nullptr (inference).
template <class T>
void max_pool2d_forward(const T* x, T* y, std::int64_t* idx, const PoolGeometry& g) {
  if (is_plain_2x2(g)) {
    max_pool2d_forward_2x2(x, y, idx, g);
    return;
  }
  const Window2d& win = g.win;
#pragma omp parallel for if (g.work() > kParallelGrain)
  for (std::int64_t p = 0; p < g.planes(); ++p) {
    const T* xp = x + p * g.H * g.W;
    for (std::int64_t oh = 0; oh < g.oH; ++oh) {
      for (std::int64_t ow = 0; ow < g.oW; ++ow) {
        T best = T{0};
        std::int64_t arg = -1;
        for (std::int64_t i = 0; i < win.kernel_h; ++i) {
          const std::int64_t h = oh * win.stride_h - win.pad_h + i * win.dilation_h;
          if (h < 0 || h >= g.H) {
            continue;
          }
          for (std::int64_t j = 0; j < win.kernel_w; ++j) {
            const std::int64_t w = ow * win.stride_w - win.pad_w + j * win.dilation_w;
            if (w < 0 || w >= g.W) {
              continue;
            }
            const T v = xp[h * g.W + w];
            if (arg < 0 || v > best || (std::isnan(v) && !std::isnan(best))) {
              best = v;
              arg = h * g.W + w;
            }
          }
        }
        const std::int64_t o = (p * g.oH + oh) * g.oW + ow;
        y[o] = best;
        if (idx != nullptr) {
          idx[o] = arg;
        }
      }
    }
  }
}

// backward, per plane: dx = 0;  dx[idx[o]] += dy[o] for every output o
template <class T>
void max_pool2d_backward(const T* dy, const std::int64_t* idx, T* dx, const PoolGeometry& g) {
  const std::int64_t HW = g.H * g.W, oHW = g.oH * g.oW;
#pragma omp parallel for if (g.planes() * (HW + oHW) > kParallelGrain)
  for (std::int64_t p = 0; p < g.planes(); ++p) {
    T* dxp = dx + p * HW;
    std::fill(dxp, dxp + HW, T{0});
    for (std::int64_t o = 0; o < oHW; ++o) {
      dxp[idx[p * oHW + o]] += dy[p * oHW + o];
    }
  }
}

PoolGeometry max_geometry(const Tensor& x, Size2d kernel, const MaxPool2dOptions& o) {
  return detail::pool_geometry("max_pool2d", x, kernel, o.stride.value_or(kernel), o.padding,
                               o.dilation);
}

Tensor run_forward(const Tensor& x, const PoolGeometry& g, Tensor* indices) {
  const Tensor xc = x.contiguous();
  Tensor y = Tensor::empty({g.N, g.C, g.oH, g.oW}, x.dtype());
  if (indices != nullptr) {
    *indices = Tensor::empty(y.shape(), DType::i64);
  }
  visit_float(x.dtype(), "max_pool2d", [&]<class T>() {
    max_pool2d_forward(xc.data<T>().data(), y.data<T>().data(),
                       indices != nullptr ? indices->data<std::int64_t>().data() : nullptr, g);
  });
  return y;
}

struct MaxPool2dNode final : Node {
  Tensor indices;  // (N, C, oH, oW) int64, flat positions in each input plane
  PoolGeometry g{};

  std::vector<Tensor> backward(const Tensor& dy) override {
    const Tensor dyc = dy.contiguous();
    Tensor dx = Tensor::empty({g.N, g.C, g.H, g.W}, dy.dtype());
    visit_float(dy.dtype(), "max_pool2d_backward", [&]<class T>() {
      max_pool2d_backward(dyc.data<T>().data(), indices.data<std::int64_t>().data(),
                          dx.data<T>().data(), g);
    });
    return {dx};
  }
  std::string_view name() const override { return "max_pool2d"; }
  void release() override { indices = Tensor(); }
};

}  // namespace

Tensor max_pool2d_forward(const Tensor& x, Size2d kernel_size, const MaxPool2dOptions& options) {
  return run_forward(x, max_geometry(x, kernel_size, options), nullptr);
}

Variable max_pool2d(const Variable& x, Size2d kernel_size, const MaxPool2dOptions& options) {
  const PoolGeometry g = max_geometry(x.data(), kernel_size, options);
  if (!x.requires_grad()) {
    return Variable(run_forward(x.data(), g, nullptr), false);
  }
  auto node = std::make_shared<MaxPool2dNode>();
  node->g = g;
  Tensor y = run_forward(x.data(), g, &node->indices);
  return make_output(std::move(y), std::move(node), {x});
}

MaxPool2d::MaxPool2d(Size2d kernel_size, const MaxPool2dOptions& options)
    : kernel_size_(kernel_size), options_(options) {
  const Size2d stride = options.stride.value_or(kernel_size);
  check_window("MaxPool2d",
               Window2d{kernel_size.h, kernel_size.w, stride.h, stride.w, options.padding.h,
                        options.padding.w, options.dilation.h, options.dilation.w});
  if (2 * options.padding.h > kernel_size.h || 2 * options.padding.w > kernel_size.w) {
    throw ValueError(fmt::format("MaxPool2d: padding {} should be at most half of kernel_size {}",
                                 options.padding.repr(), kernel_size.repr()));
  }
}

Variable MaxPool2d::forward(const Variable& x) {
  return max_pool2d(x, kernel_size_, options_);
}
Tensor MaxPool2d::forward_no_grad(const Tensor& x) {
  return max_pool2d_forward(x, kernel_size_, options_);
}

std::string MaxPool2d::extra_repr() const {
  return fmt::format("kernel_size={}, stride={}, padding={}, dilation={}", kernel_size_.repr(),
                     options_.stride.value_or(kernel_size_).repr(), options_.padding.repr(),
                     options_.dilation.repr());
}

}  // namespace normlab
