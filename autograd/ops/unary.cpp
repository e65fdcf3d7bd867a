// autograd/ops/unary.cpp: neg, exp, log, sqrt, pow (scalar exponent) and abs.
// Each op: a forward/backward kernel pair on raw pointers, the Tensor-level wrappers (unary.h),
// and a Node saving only what its backward reads (x or y).
#include "autograd/ops/unary.h"

#include <cmath>

#include "autograd/ops.h"
#include "autograd/ops/map_kernel.h"
#include "autograd/ops/op_util.h"

namespace normlab {

namespace {

// forward:  y_i = −x_i;   backward: dx_i = −dy_i (the same kernel)
template <class T>
void neg_forward(const T* x, T* y, std::int64_t n) {
  map_elementwise(x, y, n, [](T v) { return -v; });
}

// forward:  y_i = exp(x_i)
template <class T>
void exp_forward(const T* x, T* y, std::int64_t n) {
  map_elementwise(x, y, n, [](T v) { return std::exp(v); });
}
// backward: dx_i = dy_i · y_i     reads the saved output (multiply_elementwise)

// forward:  y_i = ln(x_i)
template <class T>
void log_forward(const T* x, T* y, std::int64_t n) {
  map_elementwise(x, y, n, [](T v) { return std::log(v); });
}
// backward: dx_i = dy_i / x_i                     reads the input
template <class T>
void log_backward(const T* dy, const T* x, T* dx, std::int64_t n) {
  map_elementwise(dy, x, dx, n, [](T g, T v) { return g / v; });
}

// forward:  y_i = √x_i
template <class T>
void sqrt_forward(const T* x, T* y, std::int64_t n) {
  map_elementwise(x, y, n, [](T v) { return std::sqrt(v); });
}
// backward: dx_i = dy_i / (2 y_i)                 reads the saved output
template <class T>
void sqrt_backward(const T* dy, const T* y, T* dx, std::int64_t n) {
  map_elementwise(dy, y, dx, n, [](T g, T v) { return g / (T{2} * v); });
}

// forward:  y_i = x_iᵖ
template <class T>
void pow_forward(const T* x, T p, T* y, std::int64_t n) {
  map_elementwise(x, y, n, [p](T v) { return std::pow(v, p); });
}
// backward: dx_i = dy_i · p · x_iᵖ⁻¹;  p = 0 gives dx = 0 exactly (no 0·∞ at x = 0, as PyTorch)
template <class T>
void pow_backward(const T* dy, const T* x, T p, T* dx, std::int64_t n) {
  if (p == T{0}) {
    for (std::int64_t i = 0; i < n; ++i) {
      dx[i] = T{0};
    }
    return;
  }
  map_elementwise(dy, x, dx, n, [p](T g, T v) { return g * p * std::pow(v, p - T{1}); });
}

// forward:  y_i = |x_i|
template <class T>
void abs_forward(const T* x, T* y, std::int64_t n) {
  map_elementwise(x, y, n, [](T v) { return std::abs(v); });
}
// backward: dx_i = dy_i · sign(x_i), with sign(0) = 0 (PyTorch's subgradient)
template <class T>
void abs_backward(const T* dy, const T* x, T* dx, std::int64_t n) {
  map_elementwise(dy, x, dx, n, [](T g, T v) {
    const T sign = v > T{0} ? T{1} : (v < T{0} ? T{-1} : T{0});
    return g * sign;
  });
}

struct NegNode final : Node {
  std::vector<Tensor> backward(const Tensor& dy) override { return {neg_backward(dy)}; }
  std::string_view name() const override { return "neg"; }
};

struct ExpNode final : Node {
  Tensor y;
  std::vector<Tensor> backward(const Tensor& dy) override { return {exp_backward(dy, y)}; }
  std::string_view name() const override { return "exp"; }
  void release() override { y = Tensor(); }
};

struct LogNode final : Node {
  Tensor x;
  std::vector<Tensor> backward(const Tensor& dy) override { return {log_backward(dy, x)}; }
  std::string_view name() const override { return "log"; }
  void release() override { x = Tensor(); }
};

struct SqrtNode final : Node {
  Tensor y;
  std::vector<Tensor> backward(const Tensor& dy) override { return {sqrt_backward(dy, y)}; }
  std::string_view name() const override { return "sqrt"; }
  void release() override { y = Tensor(); }
};

struct PowNode final : Node {
  Tensor x;
  double p = 1.0;
  std::vector<Tensor> backward(const Tensor& dy) override { return {pow_backward(dy, x, p)}; }
  std::string_view name() const override { return "pow"; }
  void release() override { x = Tensor(); }
};

struct AbsNode final : Node {
  Tensor x;
  std::vector<Tensor> backward(const Tensor& dy) override { return {abs_backward(dy, x)}; }
  std::string_view name() const override { return "abs"; }
  void release() override { x = Tensor(); }
};

}  // namespace

// ---- Tensor level ----

Tensor neg_forward(const Tensor& x) {
  return unary_map("neg", x, [](auto... args) { neg_forward(args...); });
}
Tensor neg_backward(const Tensor& dy) {
  return unary_map("neg_backward", dy, [](auto... args) { neg_forward(args...); });
}

Tensor exp_forward(const Tensor& x) {
  return unary_map("exp", x, [](auto... args) { exp_forward(args...); });
}
Tensor exp_backward(const Tensor& dy, const Tensor& y) {
  return unary_grad("exp_backward", dy, y, "y",
                    [](auto... args) { multiply_elementwise(args...); });
}

Tensor log_forward(const Tensor& x) {
  return unary_map("log", x, [](auto... args) { log_forward(args...); });
}
Tensor log_backward(const Tensor& dy, const Tensor& x) {
  return unary_grad("log_backward", dy, x, "x", [](auto... args) { log_backward(args...); });
}

Tensor sqrt_forward(const Tensor& x) {
  return unary_map("sqrt", x, [](auto... args) { sqrt_forward(args...); });
}
Tensor sqrt_backward(const Tensor& dy, const Tensor& y) {
  return unary_grad("sqrt_backward", dy, y, "y", [](auto... args) { sqrt_backward(args...); });
}

Tensor pow_forward(const Tensor& x, double p) {
  return unary_map("pow", x, [p]<class T>(const T* xs, T* y, std::int64_t n) {
    pow_forward(xs, static_cast<T>(p), y, n);
  });
}
Tensor pow_backward(const Tensor& dy, const Tensor& x, double p) {
  return unary_grad("pow_backward", dy, x, "x",
                    [p]<class T>(const T* g, const T* xs, T* dx, std::int64_t n) {
                      pow_backward(g, xs, static_cast<T>(p), dx, n);
                    });
}

Tensor abs_forward(const Tensor& x) {
  return unary_map("abs", x, [](auto... args) { abs_forward(args...); });
}
Tensor abs_backward(const Tensor& dy, const Tensor& x) {
  return unary_grad("abs_backward", dy, x, "x", [](auto... args) { abs_backward(args...); });
}

// ---- Variable level ----

Variable neg(const Variable& a) {
  Tensor y = neg_forward(a.data());
  std::shared_ptr<NegNode> node;
  if (any_requires_grad({a})) {
    node = std::make_shared<NegNode>();
  }
  return make_output(std::move(y), std::move(node), {a});
}

Variable exp(const Variable& a) {
  Tensor y = exp_forward(a.data());
  std::shared_ptr<ExpNode> node;
  if (any_requires_grad({a})) {
    node = std::make_shared<ExpNode>();
    node->y = y;
  }
  return make_output(std::move(y), std::move(node), {a});
}

Variable log(const Variable& a) {
  Tensor y = log_forward(a.data());
  std::shared_ptr<LogNode> node;
  if (any_requires_grad({a})) {
    node = std::make_shared<LogNode>();
    node->x = a.data();
  }
  return make_output(std::move(y), std::move(node), {a});
}

Variable sqrt(const Variable& a) {
  Tensor y = sqrt_forward(a.data());
  std::shared_ptr<SqrtNode> node;
  if (any_requires_grad({a})) {
    node = std::make_shared<SqrtNode>();
    node->y = y;
  }
  return make_output(std::move(y), std::move(node), {a});
}

Variable pow(const Variable& a, double p) {
  Tensor y = pow_forward(a.data(), p);
  std::shared_ptr<PowNode> node;
  if (any_requires_grad({a})) {
    node = std::make_shared<PowNode>();
    node->x = a.data();
    node->p = p;
  }
  return make_output(std::move(y), std::move(node), {a});
}

Variable abs(const Variable& a) {
  Tensor y = abs_forward(a.data());
  std::shared_ptr<AbsNode> node;
  if (any_requires_grad({a})) {
    node = std::make_shared<AbsNode>();
    node->x = a.data();
  }
  return make_output(std::move(y), std::move(node), {a});
}

}  // namespace normlab
