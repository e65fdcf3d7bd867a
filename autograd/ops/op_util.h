// autograd/ops/op_util.h: helpers for writing an elementwise op with a hand-written backward,
// shared by the op files of autograd/ops and the activations of layers/.
#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <string_view>

#include "autograd/node.h"
#include "core/error.h"
#include "core/tensor.h"

namespace normlab {

// True when input i of a recorded node receives a gradient; a backward skips the others' work.
inline bool input_needs_grad(const Node& node, std::size_t i) {
  return i < node.inputs.size() && node.inputs[i].requires_grad;
}

// y = kernel over a dense copy of x (x itself when contiguous): kernel(x, y, n) on T* pointers.
template <class Kernel>
Tensor unary_map(std::string_view op, const Tensor& x, Kernel&& kernel) {
  const Tensor xc = x.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  visit_float(x.dtype(), op,
              [&]<class T>() { kernel(xc.data<T>().data(), y.data<T>().data(), y.numel()); });
  return y;
}

// dx = kernel(dy, saved) for an elementwise backward that reads one saved tensor (the input x or
// the output y, named by `saved_name`) of dy's shape: kernel(dy, saved, dx, n) on T* pointers.
template <class Kernel>
Tensor unary_grad(std::string_view op, const Tensor& dy, const Tensor& saved,
                  std::string_view saved_name, Kernel&& kernel) {
  if (dy.shape() != saved.shape()) {
    throw ShapeError(fmt::format("{}: dy and {} differ in shape (dy: {}, {}: {})", op, saved_name,
                                 to_string(dy.shape()), saved_name, to_string(saved.shape())));
  }
  check_same_dtype(op, dy, saved);
  const Tensor dyc = dy.contiguous();
  const Tensor sc = saved.contiguous();
  Tensor dx = Tensor::empty(dy.shape(), dy.dtype());
  visit_float(dy.dtype(), op, [&]<class T>() {
    kernel(dyc.data<T>().data(), sc.data<T>().data(), dx.data<T>().data(), dx.numel());
  });
  return dx;
}

}  // namespace normlab
