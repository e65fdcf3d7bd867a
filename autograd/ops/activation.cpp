// autograd/ops/activation.cpp: relu, sigmoid and tanh. Each backward reads the saved output y,
// so the input need not be kept alive.
#include <cmath>

#include "autograd/ops.h"
#include "autograd/ops/map_kernel.h"
#include "autograd/ops/op_util.h"
#include "autograd/ops/unary.h"

namespace normlab {

namespace {

// forward:  y_i = max(x_i, 0)                     (NaN propagates, as in PyTorch)
template <class T>
void relu_forward(const T* x, T* y, std::int64_t n) {
  // NaN stays NaN; the form a vector max instruction takes
  map_elementwise(x, y, n, [](T v) { return T{0} > v ? T{0} : v; });
}
// backward: dx_i = dy_i · [y_i > 0]               (gradient 0 at x = 0, as in PyTorch)
template <class T>
void relu_backward(const T* dy, const T* y, T* dx, std::int64_t n) {
  map_elementwise(dy, y, dx, n, [](T g, T v) { return v > T{0} ? g : T{0}; });
}

// forward:  y_i = 1 / (1 + e^(−x_i)), evaluated as e^x / (1 + e^x) for x < 0 so that no
//           intermediate overflows
template <class T>
void sigmoid_forward(const T* x, T* y, std::int64_t n) {
  map_elementwise(x, y, n, [](T v) {
    if (v >= T{0}) {
      return T{1} / (T{1} + std::exp(-v));
    }
    const T e = std::exp(v);
    return e / (T{1} + e);
  });
}
// backward: dx_i = dy_i · y_i · (1 − y_i)
template <class T>
void sigmoid_backward(const T* dy, const T* y, T* dx, std::int64_t n) {
  map_elementwise(dy, y, dx, n, [](T g, T v) { return g * v * (T{1} - v); });
}

// forward:  y_i = tanh(x_i)
template <class T>
void tanh_forward(const T* x, T* y, std::int64_t n) {
  map_elementwise(x, y, n, [](T v) { return std::tanh(v); });
}
// backward: dx_i = dy_i · (1 − y_i²)
template <class T>
void tanh_backward(const T* dy, const T* y, T* dx, std::int64_t n) {
  map_elementwise(dy, y, dx, n, [](T g, T v) { return g * (T{1} - v * v); });
}

struct ReluNode final : Node {
  Tensor y;
  std::vector<Tensor> backward(const Tensor& dy) override { return {relu_backward(dy, y)}; }
  std::string_view name() const override { return "relu"; }
  void release() override { y = Tensor(); }
};

struct SigmoidNode final : Node {
  Tensor y;
  std::vector<Tensor> backward(const Tensor& dy) override { return {sigmoid_backward(dy, y)}; }
  std::string_view name() const override { return "sigmoid"; }
  void release() override { y = Tensor(); }
};

struct TanhNode final : Node {
  Tensor y;
  std::vector<Tensor> backward(const Tensor& dy) override { return {tanh_backward(dy, y)}; }
  std::string_view name() const override { return "tanh"; }
  void release() override { y = Tensor(); }
};

// Records node (saving the output y) when a requires a gradient.
template <class NodeT>
Variable activation_output(Tensor y, const Variable& a) {
  std::shared_ptr<NodeT> node;
  if (any_requires_grad({a})) {
    node = std::make_shared<NodeT>();
    node->y = y;
  }
  return make_output(std::move(y), std::move(node), {a});
}

}  // namespace

// ---- Tensor level ----

Tensor relu_forward(const Tensor& x) {
  return unary_map("relu", x, [](auto... args) { relu_forward(args...); });
}
Tensor relu_backward(const Tensor& dy, const Tensor& y) {
  return unary_grad("relu_backward", dy, y, "y", [](auto... args) { relu_backward(args...); });
}

Tensor sigmoid_forward(const Tensor& x) {
  return unary_map("sigmoid", x, [](auto... args) { sigmoid_forward(args...); });
}
Tensor sigmoid_backward(const Tensor& dy, const Tensor& y) {
  return unary_grad("sigmoid_backward", dy, y, "y",
                    [](auto... args) { sigmoid_backward(args...); });
}

Tensor tanh_forward(const Tensor& x) {
  return unary_map("tanh", x, [](auto... args) { tanh_forward(args...); });
}
Tensor tanh_backward(const Tensor& dy, const Tensor& y) {
  return unary_grad("tanh_backward", dy, y, "y", [](auto... args) { tanh_backward(args...); });
}

// ---- Variable level ----

Variable relu(const Variable& a) {
  return activation_output<ReluNode>(relu_forward(a.data()), a);
}
Variable sigmoid(const Variable& a) {
  return activation_output<SigmoidNode>(sigmoid_forward(a.data()), a);
}
Variable tanh(const Variable& a) {
  return activation_output<TanhNode>(tanh_forward(a.data()), a);
}

}  // namespace normlab
