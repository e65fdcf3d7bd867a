// layers/activation.cpp: LeakyReLU and GELU kernels with their nodes; ReLU wraps autograd's relu.
#include "layers/activation.h"

#include <fmt/format.h>

#include <cmath>
#include <numbers>
#include <utility>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "autograd/ops/map_kernel.h"
#include "autograd/ops/op_util.h"
#include "core/error.h"

namespace normlab {

namespace {

// y = kernel(x) elementwise over a dense copy of x, which must be defined.
template <class Kernel>
Tensor map_unary(std::string_view op, const Tensor& x, Kernel&& kernel) {
  check_defined(op, x, "x");
  return unary_map(op, x, std::forward<Kernel>(kernel));
}

// forward:  y_i = x_i if x_i > 0 else a·x_i
template <class T>
void leaky_relu_forward(const T* x, T* y, std::int64_t n, T a) {
  map_elementwise(x, y, n, [a](T v) { return v > T{0} ? v : a * v; });
}
// backward: dx_i = dy_i if x_i > 0 else a·dy_i   (slope a at x = 0, as in PyTorch)
template <class T>
void leaky_relu_backward(const T* dy, const T* x, T* dx, std::int64_t n, T a) {
  map_elementwise(dy, x, dx, n, [a](T g, T v) { return v > T{0} ? g : a * g; });
}

// forward:  y_i = ½ x_i (1 + erf(x_i / √2))
template <class T>
void gelu_forward(const T* x, T* y, std::int64_t n) {
  const T inv_sqrt2 = static_cast<T>(1.0 / std::numbers::sqrt2);
  map_elementwise(x, y, n,
                  [inv_sqrt2](T v) { return T{0.5} * v * (T{1} + std::erf(v * inv_sqrt2)); });
}
// backward: dx_i = dy_i · (Φ(x_i) + x_i·φ(x_i)),  Φ(x) = ½(1 + erf(x/√2)),  φ(x) = e^(−x²/2)/√(2π)
template <class T>
void gelu_backward(const T* dy, const T* x, T* dx, std::int64_t n) {
  const T inv_sqrt2 = static_cast<T>(1.0 / std::numbers::sqrt2);
  const T inv_sqrt_2pi = static_cast<T>(std::numbers::inv_sqrtpi / std::numbers::sqrt2);
  map_elementwise(dy, x, dx, n, [inv_sqrt2, inv_sqrt_2pi](T g, T v) {
    const T cdf = T{0.5} * (T{1} + std::erf(v * inv_sqrt2));
    const T pdf = inv_sqrt_2pi * std::exp(T{-0.5} * v * v);
    return g * (cdf + v * pdf);
  });
}

struct LeakyReluNode final : Node {
  Tensor x;
  double negative_slope = 0.01;
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {unary_grad("leaky_relu_backward", dy, x, "x",
                       [&]<class T>(const T* g, const T* xs, T* dx, std::int64_t n) {
                         leaky_relu_backward(g, xs, dx, n, static_cast<T>(negative_slope));
                       })};
  }
  std::string_view name() const override { return "leaky_relu"; }
  void release() override { x = Tensor(); }
};

struct GeluNode final : Node {
  Tensor x;
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {unary_grad("gelu_backward", dy, x, "x",
                       [](const auto* g, const auto* xs, auto* dx, std::int64_t n) {
                         gelu_backward(g, xs, dx, n);
                       })};
  }
  std::string_view name() const override { return "gelu"; }
  void release() override { x = Tensor(); }
};

}  // namespace

Tensor leaky_relu_forward(const Tensor& x, double negative_slope) {
  return map_unary("leaky_relu", x, [&]<class T>(const T* xs, T* y, std::int64_t n) {
    leaky_relu_forward(xs, y, n, static_cast<T>(negative_slope));
  });
}

Variable leaky_relu(const Variable& x, double negative_slope) {
  Tensor y = leaky_relu_forward(x.data(), negative_slope);
  if (!x.requires_grad()) {
    return Variable(std::move(y), false);
  }
  auto node = std::make_shared<LeakyReluNode>();
  node->x = x.data().contiguous();
  node->negative_slope = negative_slope;
  return make_output(std::move(y), std::move(node), {x});
}

Tensor gelu_forward(const Tensor& x) {
  return map_unary("gelu", x,
                   [](const auto* xs, auto* y, std::int64_t n) { gelu_forward(xs, y, n); });
}

Variable gelu(const Variable& x) {
  Tensor y = gelu_forward(x.data());
  if (!x.requires_grad()) {
    return Variable(std::move(y), false);
  }
  auto node = std::make_shared<GeluNode>();
  node->x = x.data().contiguous();
  return make_output(std::move(y), std::move(node), {x});
}

Variable ReLU::forward(const Variable& x) {
  return relu(x);
}
// x does not require a gradient here, so autograd's relu records nothing.
Tensor ReLU::forward_no_grad(const Tensor& x) {
  return relu(Variable(x, false)).data();
}

LeakyReLU::LeakyReLU(double negative_slope) : negative_slope_(negative_slope) {
  if (!std::isfinite(negative_slope)) {
    throw ValueError(
        fmt::format("LeakyReLU: negative_slope must be finite (got {})", negative_slope));
  }
}

std::string LeakyReLU::extra_repr() const {
  return fmt::format("negative_slope={}", negative_slope_);
}

}  // namespace normlab
