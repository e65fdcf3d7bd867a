// layers/max_pool2d.cpp: 2-D max pooling with saved argmax, and the max of relu(x) in the same pass
// (formulas in layers/pooling.h).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
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

// The saved argmax: a flat position h·W + w in its input plane, or −1 where relu blocks the
// gradient. 32 bits (a plane of fewer than 2³¹ positions, checked in max_geometry): half the
// bytes of int64 to write and keep, and the selects of the 2×2 kernel fill a vector with as many
// positions as values.
using PoolIndex = std::int32_t;

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

// Max of relu, per output once the window's maximum `best` and its position are known: best when
// best > 0 (the same position wins among relu(x)); otherwise relu blocks the gradient (the caller
// sets the position to −1) and the value is what pooling relu(x) itself gives: NaN stays NaN, and
// a window of values ≤ 0 gives relu of its first entry (every relu value is ±0 then, and the first
// one wins the tie), so that even the sign of a zero is the two layers' own.
template <class T>
[[gnu::always_inline]] inline T relu_after_max(T best, T first) {
  const T zero = T{0} > first ? T{0} : first;
  return best > T{0} || best != best ? best : zero;  // NOLINT(misc-redundant-expression): NaN test
}

// Outputs [ow0, ow0 + kLanes) of one row of the 2×2 window: the four candidates in row-major window
// order, each taken with a select, with no window bounds or padding to test. kLanes is fixed at
// compile time, so the loop is kLanes wide with no scalar remainder. kRelu: the max of relu.
template <std::int64_t kLanes, bool kRelu, class T>
[[gnu::always_inline]] inline void max_pool2d_outputs_2x2(const T* top, const T* bottom,
                                                          std::int64_t ow0, PoolIndex top_index,
                                                          PoolIndex W, T* y, PoolIndex* idx) {
#pragma omp simd
  for (std::int64_t ow = ow0; ow < ow0 + kLanes; ++ow) {
    const std::int64_t w = 2 * ow;
    const T c1 = top[w + 1], c2 = bottom[w], c3 = bottom[w + 1];
    T best = top[w];
    const PoolIndex at = top_index + static_cast<PoolIndex>(w);
    PoolIndex arg = at;
    const bool t1 = takes_over(c1, best);
    best = t1 ? c1 : best;
    arg = t1 ? at + 1 : arg;
    const bool t2 = takes_over(c2, best);
    best = t2 ? c2 : best;
    arg = t2 ? at + W : arg;
    const bool t3 = takes_over(c3, best);
    best = t3 ? c3 : best;
    arg = t3 ? at + W + 1 : arg;
    if constexpr (kRelu) {
      arg = best > T{0} ? arg : -1;
      best = relu_after_max(best, top[w]);
    }
    y[ow] = best;
    idx[ow] = arg;
  }
}

// One row of oW outputs in chunks of kLanes (oW >= kLanes); the last chunk ends at oW and may
// overlap the one before it, which rewrites the same values. The maps of models/ pool rows of 16,
// 14, 8, 7 and 4 outputs: a plain vector loop would run most of them in its scalar, branching
// remainder.
template <std::int64_t kLanes, bool kRelu, class T>
[[gnu::always_inline]] inline void max_pool2d_row_in_chunks(const T* top, const T* bottom,
                                                            std::int64_t oW, PoolIndex top_index,
                                                            PoolIndex W, T* y, PoolIndex* idx) {
  for (std::int64_t ow0 = 0; ow0 < oW; ow0 += kLanes) {
    max_pool2d_outputs_2x2<kLanes, kRelu>(top, bottom, std::min(ow0, oW - kLanes), top_index, W, y,
                                          idx);
  }
}

template <bool kRelu, class T>
[[gnu::always_inline]] inline void max_pool2d_row_2x2(const T* top, const T* bottom,
                                                      std::int64_t oW, PoolIndex top_index,
                                                      PoolIndex W, T* y, PoolIndex* idx) {
  if (oW >= 16) {
    max_pool2d_row_in_chunks<16, kRelu>(top, bottom, oW, top_index, W, y, idx);
  } else if (oW >= 8) {
    max_pool2d_row_in_chunks<8, kRelu>(top, bottom, oW, top_index, W, y, idx);
  } else if (oW >= 4) {
    max_pool2d_row_in_chunks<4, kRelu>(top, bottom, oW, top_index, W, y, idx);
  } else {
    max_pool2d_row_in_chunks<1, kRelu>(top, bottom, oW, top_index, W, y, idx);
  }
}

// The row kernel compiled for AVX-512, AVX2 and the baseline (core/multiversion.h): the selects
// over float values and int64 positions vectorize with AVX-512's masks. relu: the max of relu.
NORMLAB_MULTIVERSION void pool_row_2x2(const float* top, const float* bottom, std::int64_t oW,
                                       PoolIndex top_index, PoolIndex W, float* y, PoolIndex* idx,
                                       bool relu) {
  if (relu) {
    max_pool2d_row_2x2<true>(top, bottom, oW, top_index, W, y, idx);
  } else {
    max_pool2d_row_2x2<false>(top, bottom, oW, top_index, W, y, idx);
  }
}
NORMLAB_MULTIVERSION void pool_row_2x2(const double* top, const double* bottom, std::int64_t oW,
                                       PoolIndex top_index, PoolIndex W, double* y, PoolIndex* idx,
                                       bool relu) {
  if (relu) {
    max_pool2d_row_2x2<true>(top, bottom, oW, top_index, W, y, idx);
  } else {
    max_pool2d_row_2x2<false>(top, bottom, oW, top_index, W, y, idx);
  }
}

template <bool kRelu, class T>
void max_pool2d_forward_2x2(const T* x, T* y, PoolIndex* idx, const PoolGeometry& g) {
  std::vector<PoolIndex> scratch(idx == nullptr ? static_cast<std::size_t>(g.oW) : 0);
#pragma omp parallel for firstprivate(scratch) if (g.work() > kParallelGrain)
  for (std::int64_t p = 0; p < g.planes(); ++p) {
    for (std::int64_t oh = 0; oh < g.oH; ++oh) {
      const std::int64_t h = 2 * oh, o = (p * g.oH + oh) * g.oW;
      const T* top = x + (p * g.H + h) * g.W;
      pool_row_2x2(top, top + g.W, g.oW, static_cast<PoolIndex>(h * g.W),
                   static_cast<PoolIndex>(g.W), y + o, idx != nullptr ? idx + o : scratch.data(),
                   kRelu);
    }
  }
}

// forward, per plane: y = max over the window's in-image positions; idx = flat h·W + w of the
// first maximum (row-major window order), or of the first NaN. idx may be nullptr (inference).
// kRelu: the max of relu(x) (relu_after_max), idx = −1 where relu blocks the gradient.
template <bool kRelu, class T>
void max_pool2d_forward(const T* x, T* y, PoolIndex* idx, const PoolGeometry& g) {
  if (is_plain_2x2(g)) {
    max_pool2d_forward_2x2<kRelu>(x, y, idx, g);
    return;
  }
  const Window2d& win = g.win;
#pragma omp parallel for if (g.work() > kParallelGrain)
  for (std::int64_t p = 0; p < g.planes(); ++p) {
    const T* xp = x + p * g.H * g.W;
    for (std::int64_t oh = 0; oh < g.oH; ++oh) {
      for (std::int64_t ow = 0; ow < g.oW; ++ow) {
        T best = T{0}, first = T{0};
        PoolIndex arg = -1;
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
            first = arg < 0 ? v : first;
            if (arg < 0 || v > best || (std::isnan(v) && !std::isnan(best))) {
              best = v;
              arg = static_cast<PoolIndex>(h * g.W + w);
            }
          }
        }
        if constexpr (kRelu) {
          arg = best > T{0} ? arg : -1;
          best = relu_after_max(best, first);
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

// backward, per plane: dx = 0;  dx[idx[o]] += dy[o] for every output o with idx[o] ≥ 0 (−1: relu
// blocked the gradient, in the max of relu)
template <class T>
void max_pool2d_backward(const T* dy, const PoolIndex* idx, T* dx, const PoolGeometry& g) {
  const std::int64_t HW = g.H * g.W, oHW = g.oH * g.oW;
#pragma omp parallel for if (g.planes() * (HW + oHW) > kParallelGrain)
  for (std::int64_t p = 0; p < g.planes(); ++p) {
    T* dxp = dx + p * HW;
    std::fill(dxp, dxp + HW, T{0});
    for (std::int64_t o = 0; o < oHW; ++o) {
      const PoolIndex i = idx[p * oHW + o];
      if (i >= 0) {
        dxp[i] += dy[p * oHW + o];
      }
    }
  }
}

// The op's name in errors and in the graph: plain pooling, or pooling of relu(x).
std::string_view op_name(bool relu) {
  return relu ? "max_pool2d_relu" : "max_pool2d";
}

PoolGeometry max_geometry(const Tensor& x, Size2d kernel, const MaxPool2dOptions& o, bool relu) {
  const PoolGeometry g = detail::pool_geometry(op_name(relu), x, kernel, o.stride.value_or(kernel),
                                               o.padding, o.dilation);
  if (g.H * g.W > std::numeric_limits<PoolIndex>::max()) {
    throw ShapeError(
        fmt::format("{}: an input plane of {}x{} has more positions than the saved "
                    "argmax can address (2^31 - 1) (x: {})",
                    op_name(relu), g.H, g.W, to_string(x.shape())));
  }
  return g;
}

Tensor run_forward(const Tensor& x, const PoolGeometry& g, bool relu, Tensor* indices) {
  const Tensor xc = x.contiguous();
  Tensor y = Tensor::empty({g.N, g.C, g.oH, g.oW}, x.dtype());
  if (indices != nullptr) {
    *indices = Tensor::empty(y.shape(), DType::i32);
  }
  visit_float(x.dtype(), op_name(relu), [&]<class T>() {
    PoolIndex* idx = indices != nullptr ? indices->data<PoolIndex>().data() : nullptr;
    if (relu) {
      max_pool2d_forward<true>(xc.data<T>().data(), y.data<T>().data(), idx, g);
    } else {
      max_pool2d_forward<false>(xc.data<T>().data(), y.data<T>().data(), idx, g);
    }
  });
  return y;
}

struct MaxPool2dNode final : Node {
  Tensor indices;  // (N, C, oH, oW) int32, flat positions in each input plane (−1: no gradient)
  PoolGeometry g{};
  bool relu = false;  // the max of relu(x)

  std::vector<Tensor> backward(const Tensor& dy) override {
    const Tensor dyc = dy.contiguous();
    Tensor dx = Tensor::empty({g.N, g.C, g.H, g.W}, dy.dtype());
    visit_float(dy.dtype(), "max_pool2d_backward", [&]<class T>() {
      max_pool2d_backward(dyc.data<T>().data(), indices.data<PoolIndex>().data(),
                          dx.data<T>().data(), g);
    });
    return {dx};
  }
  std::string_view name() const override { return op_name(relu); }
  void release() override { indices = Tensor(); }
};

Variable run_pooling(const Variable& x, Size2d kernel_size, const MaxPool2dOptions& options,
                     bool relu) {
  const PoolGeometry g = max_geometry(x.data(), kernel_size, options, relu);
  if (!x.requires_grad()) {
    return Variable(run_forward(x.data(), g, relu, nullptr), false);
  }
  auto node = std::make_shared<MaxPool2dNode>();
  node->g = g;
  node->relu = relu;
  Tensor y = run_forward(x.data(), g, relu, &node->indices);
  return make_output(std::move(y), std::move(node), {x});
}

}  // namespace

Tensor max_pool2d_forward(const Tensor& x, Size2d kernel_size, const MaxPool2dOptions& options) {
  return run_forward(x, max_geometry(x, kernel_size, options, false), false, nullptr);
}

Variable max_pool2d(const Variable& x, Size2d kernel_size, const MaxPool2dOptions& options) {
  return run_pooling(x, kernel_size, options, false);
}

Tensor max_pool2d_relu_forward(const Tensor& x, Size2d kernel_size,
                               const MaxPool2dOptions& options) {
  return run_forward(x, max_geometry(x, kernel_size, options, true), true, nullptr);
}

Variable max_pool2d_relu(const Variable& x, Size2d kernel_size, const MaxPool2dOptions& options) {
  return run_pooling(x, kernel_size, options, true);
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
Variable MaxPool2d::forward_after_relu(const Variable& x) const {
  return max_pool2d_relu(x, kernel_size_, options_);
}
Tensor MaxPool2d::forward_no_grad_after_relu(const Tensor& x) const {
  return max_pool2d_relu_forward(x, kernel_size_, options_);
}

std::string MaxPool2d::extra_repr() const {
  return fmt::format("kernel_size={}, stride={}, padding={}, dilation={}", kernel_size_.repr(),
                     options_.stride.value_or(kernel_size_).repr(), options_.padding.repr(),
                     options_.dilation.repr());
}

}  // namespace normlab
