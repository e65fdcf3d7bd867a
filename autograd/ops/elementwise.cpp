// autograd/ops/elementwise.cpp: add, sub, mul, div with NumPy broadcasting, and the scalar ops.
// Kernels work on dense operands of the broadcast shape. When both inputs already have that shape
// and are contiguous they are used in place (the fast path: a plain loop, no index arithmetic);
// otherwise broadcast_to makes a dense copy with one strided walk. Every backward computes the
// gradient at the broadcast shape and then sums it over the broadcast axes (sum_to_shape).
#include "autograd/ops/elementwise.h"

#include <fmt/format.h>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "autograd/ops/broadcast.h"
#include "autograd/ops/map_kernel.h"
#include "autograd/ops/op_util.h"
#include "autograd/ops/unary.h"
#include "core/error.h"
#include "core/threads.h"

namespace normlab {

namespace {

// forward:  y_i = a_i + b_i
template <class T>
void add_forward(const T* a, const T* b, T* y, std::int64_t n) {
  map_elementwise(a, b, y, n, [](T u, T v) { return u + v; });
}
// backward: da = dy, db = dy            (identity; only the broadcast reduction remains)

// forward:  y_i = a_i − b_i
template <class T>
void sub_forward(const T* a, const T* b, T* y, std::int64_t n) {
  map_elementwise(a, b, y, n, [](T u, T v) { return u - v; });
}
// backward: da = dy, db = −dy          (neg's backward; then the broadcast reduction)

// forward:  y_i = a_i · b_i                                  (multiply_elementwise)
// backward: da_i = dy_i · b_i,  db_i = dy_i · a_i          (da or db null: not requested)
template <class T>
void mul_backward(const T* dy, const T* a, const T* b, T* da, T* db, std::int64_t n) {
  if (da != nullptr) {
    multiply_elementwise(dy, b, da, n);
  }
  if (db != nullptr) {
    multiply_elementwise(dy, a, db, n);
  }
}

// forward:  y_i = a_i / b_i
template <class T>
void div_forward(const T* a, const T* b, T* y, std::int64_t n) {
  map_elementwise(a, b, y, n, [](T u, T v) { return u / v; });
}
// backward: da_i = dy_i / b_i,  db_i = −dy_i · a_i / b_i²   (da or db null: not requested)
template <class T>
void div_backward(const T* dy, const T* a, const T* b, T* da, T* db, std::int64_t n) {
  if (da != nullptr) {
    map_elementwise(dy, b, da, n, [](T g, T v) { return g / v; });
  }
  if (db != nullptr) {
#pragma omp parallel for simd if (parallel : n > kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) {  // three operands: the one loop map_elementwise lacks
      db[i] = -dy[i] * a[i] / (b[i] * b[i]);
    }
  }
}

// forward:  y_i = α · x_i + β            (add_scalar: α = 1; mul_scalar: β = 0)
// backward: dx_i = α · dy_i
template <class T>
void affine_scalar_forward(const T* x, T alpha, T beta, T* y, std::int64_t n) {
  map_elementwise(x, y, n, [alpha, beta](T v) { return alpha * v + beta; });
}

// Checks dtypes and shapes, densifies both operands to the broadcast shape, runs kernel(a, b, y,
// n).
template <class Kernel>
Tensor binary_forward(std::string_view op, const Tensor& a, const Tensor& b, Kernel&& kernel) {
  check_same_dtype(op, a, b);
  const Shape shape = broadcast_shapes(op, a.shape(), b.shape());
  const Tensor ad = broadcast_to(a, shape);
  const Tensor bd = broadcast_to(b, shape);
  Tensor y = Tensor::empty(shape, a.dtype());
  visit_float(a.dtype(), op, [&]<class T>() {
    kernel(ad.data<T>().data(), bd.data<T>().data(), y.data<T>().data(), y.numel());
  });
  return y;
}

// The broadcast shape of a and b, which dy must have.
Shape check_binary_grad(std::string_view op, const Tensor& dy, const Shape& a_shape,
                        const Shape& b_shape) {
  Shape shape = broadcast_shapes(op, a_shape, b_shape);
  if (dy.shape() != shape) {
    throw ShapeError(fmt::format("{}: dy does not have the broadcast shape (dy: {}, a: {}, b: {})",
                                 op, to_string(dy.shape()), to_string(a_shape),
                                 to_string(b_shape)));
  }
  return shape;
}

// Shared by mul and div: dense dy, a, b at the broadcast shape, the kernel, then sum_to_shape.
template <class Kernel>
BinaryGrads product_backward(std::string_view op, const Tensor& dy, const Tensor& a,
                             const Tensor& b, bool need_da, bool need_db, Kernel&& kernel) {
  check_same_dtype(op, a, b);
  check_same_dtype(op, dy, a);
  const Shape shape = check_binary_grad(op, dy, a.shape(), b.shape());
  const Tensor dyd = dy.contiguous();
  const Tensor ad = broadcast_to(a, shape);
  const Tensor bd = broadcast_to(b, shape);
  Tensor da = need_da ? Tensor::empty(shape, a.dtype()) : Tensor();
  Tensor db = need_db ? Tensor::empty(shape, a.dtype()) : Tensor();
  visit_float(a.dtype(), op, [&]<class T>() {
    kernel(dyd.data<T>().data(), ad.data<T>().data(), bd.data<T>().data(),
           need_da ? da.data<T>().data() : nullptr, need_db ? db.data<T>().data() : nullptr,
           dyd.numel());
  });
  return {need_da ? sum_to_shape(da, a.shape()) : Tensor(),
          need_db ? sum_to_shape(db, b.shape()) : Tensor()};
}

Tensor affine_scalar(std::string_view op, const Tensor& x, double alpha, double beta) {
  const Tensor xc = x.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  visit_float(x.dtype(), op, [&]<class T>() {
    affine_scalar_forward(xc.data<T>().data(), static_cast<T>(alpha), static_cast<T>(beta),
                          y.data<T>().data(), y.numel());
  });
  return y;
}

// ---- Nodes: each saves exactly what its backward reads ----

struct AddNode final : Node {
  Shape a_shape, b_shape;
  std::vector<Tensor> backward(const Tensor& dy) override {
    BinaryGrads g =
        add_backward(dy, a_shape, b_shape, input_needs_grad(*this, 0), input_needs_grad(*this, 1));
    return {std::move(g.da), std::move(g.db)};
  }
  std::string_view name() const override { return "add"; }
};

struct SubNode final : Node {
  Shape a_shape, b_shape;
  std::vector<Tensor> backward(const Tensor& dy) override {
    BinaryGrads g =
        sub_backward(dy, a_shape, b_shape, input_needs_grad(*this, 0), input_needs_grad(*this, 1));
    return {std::move(g.da), std::move(g.db)};
  }
  std::string_view name() const override { return "sub"; }
};

struct MulNode final : Node {
  Tensor a, b;
  std::vector<Tensor> backward(const Tensor& dy) override {
    BinaryGrads g = mul_backward(dy, a, b, input_needs_grad(*this, 0), input_needs_grad(*this, 1));
    return {std::move(g.da), std::move(g.db)};
  }
  std::string_view name() const override { return "mul"; }
  void release() override { a = b = Tensor(); }
};

struct DivNode final : Node {
  Tensor a, b;
  std::vector<Tensor> backward(const Tensor& dy) override {
    BinaryGrads g = div_backward(dy, a, b, input_needs_grad(*this, 0), input_needs_grad(*this, 1));
    return {std::move(g.da), std::move(g.db)};
  }
  std::string_view name() const override { return "div"; }
  void release() override { a = b = Tensor(); }
};

// y = α·x + β; dx = α·dy (add_scalar: α = 1).
struct AffineScalarNode final : Node {
  double alpha = 1.0;
  std::string_view op;
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {alpha == 1.0 ? dy : affine_scalar(op, dy, alpha, 0.0)};
  }
  std::string_view name() const override { return op; }
};

}  // namespace

// ---- Tensor level ----

Tensor add_forward(const Tensor& a, const Tensor& b) {
  return binary_forward("add", a, b, [](auto... args) { add_forward(args...); });
}
Tensor sub_forward(const Tensor& a, const Tensor& b) {
  return binary_forward("sub", a, b, [](auto... args) { sub_forward(args...); });
}
Tensor mul_forward(const Tensor& a, const Tensor& b) {
  return binary_forward("mul", a, b, [](auto... args) { multiply_elementwise(args...); });
}
Tensor div_forward(const Tensor& a, const Tensor& b) {
  return binary_forward("div", a, b, [](auto... args) { div_forward(args...); });
}

BinaryGrads add_backward(const Tensor& dy, const Shape& a_shape, const Shape& b_shape, bool need_da,
                         bool need_db) {
  check_binary_grad("add_backward", dy, a_shape, b_shape);
  return {need_da ? sum_to_shape(dy, a_shape) : Tensor(),
          need_db ? sum_to_shape(dy, b_shape) : Tensor()};
}

BinaryGrads sub_backward(const Tensor& dy, const Shape& a_shape, const Shape& b_shape, bool need_da,
                         bool need_db) {
  check_binary_grad("sub_backward", dy, a_shape, b_shape);
  return {need_da ? sum_to_shape(dy, a_shape) : Tensor(),
          need_db ? sum_to_shape(neg_backward(dy), b_shape) : Tensor()};
}

BinaryGrads mul_backward(const Tensor& dy, const Tensor& a, const Tensor& b, bool need_da,
                         bool need_db) {
  return product_backward("mul_backward", dy, a, b, need_da, need_db,
                          [](auto... args) { mul_backward(args...); });
}

BinaryGrads div_backward(const Tensor& dy, const Tensor& a, const Tensor& b, bool need_da,
                         bool need_db) {
  return product_backward("div_backward", dy, a, b, need_da, need_db,
                          [](auto... args) { div_backward(args...); });
}

Tensor add_scalar_forward(const Tensor& x, double s) {
  return affine_scalar("add_scalar", x, 1.0, s);
}
Tensor mul_scalar_forward(const Tensor& x, double s) {
  return affine_scalar("mul_scalar", x, s, 0.0);
}

// ---- Variable level ----

Variable add(const Variable& a, const Variable& b) {
  Tensor y = add_forward(a.data(), b.data());
  std::shared_ptr<AddNode> node;
  if (any_requires_grad({a, b})) {
    node = std::make_shared<AddNode>();
    node->a_shape = a.shape();
    node->b_shape = b.shape();
  }
  return make_output(std::move(y), std::move(node), {a, b});
}

Variable sub(const Variable& a, const Variable& b) {
  Tensor y = sub_forward(a.data(), b.data());
  std::shared_ptr<SubNode> node;
  if (any_requires_grad({a, b})) {
    node = std::make_shared<SubNode>();
    node->a_shape = a.shape();
    node->b_shape = b.shape();
  }
  return make_output(std::move(y), std::move(node), {a, b});
}

Variable mul(const Variable& a, const Variable& b) {
  Tensor y = mul_forward(a.data(), b.data());
  std::shared_ptr<MulNode> node;
  if (any_requires_grad({a, b})) {
    node = std::make_shared<MulNode>();
    node->a = a.data();
    node->b = b.data();
  }
  return make_output(std::move(y), std::move(node), {a, b});
}

Variable div(const Variable& a, const Variable& b) {
  Tensor y = div_forward(a.data(), b.data());
  std::shared_ptr<DivNode> node;
  if (any_requires_grad({a, b})) {
    node = std::make_shared<DivNode>();
    node->a = a.data();
    node->b = b.data();
  }
  return make_output(std::move(y), std::move(node), {a, b});
}

Variable add_scalar(const Variable& a, double s) {
  Tensor y = add_scalar_forward(a.data(), s);
  std::shared_ptr<AffineScalarNode> node;
  if (any_requires_grad({a})) {
    node = std::make_shared<AffineScalarNode>();
    node->op = "add_scalar";
  }
  return make_output(std::move(y), std::move(node), {a});
}

Variable mul_scalar(const Variable& a, double s) {
  Tensor y = mul_scalar_forward(a.data(), s);
  std::shared_ptr<AffineScalarNode> node;
  if (any_requires_grad({a})) {
    node = std::make_shared<AffineScalarNode>();
    node->alpha = s;
    node->op = "mul_scalar";
  }
  return make_output(std::move(y), std::move(node), {a});
}

}  // namespace normlab
