// autograd/ops/broadcast.cpp: broadcast_to and its adjoint sum_to_shape (see broadcast.h).
#include "autograd/ops/broadcast.h"

#include <fmt/format.h>

#include <vector>

#include "core/error.h"

namespace normlab {

namespace {

// acc[o(i)] += g[i] over a contiguous g of shape S, where o walks the target with stride 0 on
// every summed axis (acc_strides, aligned with S). The index update happens once per innermost
// run: a summed inner axis becomes one running sum, a kept inner axis a plain vector add.
template <class T>
void sum_to_shape_kernel(const T* g, const Shape& S, const Strides& acc_strides, double* acc) {
  const std::size_t nd = S.size();
  if (nd == 0) {
    acc[0] += static_cast<double>(g[0]);
    return;
  }
  const std::int64_t inner = S[nd - 1];
  const bool inner_summed = acc_strides[nd - 1] == 0;
  std::vector<std::int64_t> idx(nd, 0);
  std::int64_t o = 0;
  for (const T* run = g;; run += inner) {
    if (inner_summed) {
      double s = 0.0;
      for (std::int64_t i = 0; i < inner; ++i) {
        s += static_cast<double>(run[i]);
      }
      acc[o] += s;
    } else {
      for (std::int64_t i = 0; i < inner; ++i) {
        acc[o + i] += static_cast<double>(run[i]);
      }
    }
    int axis = static_cast<int>(nd) - 2;  // odometer over the outer axes
    for (; axis >= 0; --axis) {
      const auto a = static_cast<std::size_t>(axis);
      o += acc_strides[a];
      if (++idx[a] < S[a]) {
        break;
      }
      o -= acc_strides[a] * S[a];
      idx[a] = 0;
    }
    if (axis < 0) {
      return;
    }
  }
}

}  // namespace

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) {
    return x.contiguous();
  }
  return x.expand(shape).contiguous();
}

Tensor sum_to_shape(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) {
    return g.contiguous();
  }
  const Shape& S = g.shape();
  if (shape.size() > S.size()) {
    throw ShapeError(
        fmt::format("sum_to_shape: target has more dimensions than the gradient "
                    "(g: {}, shape: {})",
                    to_string(S), to_string(shape)));
  }
  // The target aligned at the right of S; stride 0 where S is summed.
  const std::size_t lead = S.size() - shape.size();
  Shape aligned(S.size(), 1);
  for (std::size_t i = 0; i < shape.size(); ++i) {
    aligned[lead + i] = shape[i];
  }
  Strides acc_strides = contiguous_strides(aligned);
  for (std::size_t i = 0; i < S.size(); ++i) {
    if (aligned[i] == S[i]) {
      continue;
    }
    if (aligned[i] != 1) {
      throw ShapeError(
          fmt::format("sum_to_shape: gradient does not broadcast from the target "
                      "(g: {}, shape: {})",
                      to_string(S), to_string(shape)));
    }
    acc_strides[i] = 0;
  }
  const Tensor gc = g.contiguous();
  std::vector<double> acc(static_cast<std::size_t>(shape_numel(shape)), 0.0);
  Tensor out = Tensor::empty(shape, g.dtype());
  visit_float(g.dtype(), "sum_to_shape", [&]<class T>() {
    if (gc.numel() > 0) {
      sum_to_shape_kernel(gc.data<T>().data(), S, acc_strides, acc.data());
    }
    T* y = out.data<T>().data();
    for (std::size_t i = 0; i < acc.size(); ++i) {
      y[i] = static_cast<T>(acc[i]);
    }
  });
  return out;
}

}  // namespace normlab
