// autograd/ops/reduce.cpp: sum and mean over chosen dims, max over one dim.
// sum/mean reuse the broadcast adjoint pair: reducing over dims is sum_to_shape onto the shape with
// those dims set to 1, and its backward is the broadcast back (broadcast.h).
#include "autograd/ops/reduce.h"

#include <fmt/format.h>

#include <cmath>

#include "autograd/ops.h"
#include "autograd/ops/broadcast.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/op_util.h"
#include "core/error.h"
#include "core/tensor_math.h"

namespace normlab {

namespace {

// forward:  y[o, i] = max_d x[o, d, i],  idx[o, i] = the first d attaining it (NaN is maximal)
//           x: (outer, D, inner), y and idx: (outer, inner)
template <class T>
void max_forward(const T* x, std::int64_t outer, std::int64_t D, std::int64_t inner, T* y,
                 std::int64_t* idx) {
  for (std::int64_t o = 0; o < outer; ++o) {
    const T* xo = x + o * D * inner;
    T* yo = y + o * inner;
    std::int64_t* io = idx + o * inner;
    for (std::int64_t i = 0; i < inner; ++i) {
      yo[i] = xo[i];
      io[i] = 0;
    }
    for (std::int64_t d = 1; d < D; ++d) {  // strict >: ties keep the first index
      const T* row = xo + d * inner;
      for (std::int64_t i = 0; i < inner; ++i) {
        if (row[i] > yo[i] || (std::isnan(row[i]) && !std::isnan(yo[i]))) {
          yo[i] = row[i];
          io[i] = d;
        }
      }
    }
  }
}
// backward: dx[o, d, i] = dy[o, i] if d = idx[o, i], else 0          (dx zero-filled by the caller)
template <class T>
void max_backward(const T* dy, const std::int64_t* idx, std::int64_t outer, std::int64_t D,
                  std::int64_t inner, T* dx) {
  for (std::int64_t o = 0; o < outer; ++o) {
    for (std::int64_t i = 0; i < inner; ++i) {
      dx[(o * D + idx[o * inner + i]) * inner + i] = dy[o * inner + i];
    }
  }
}

std::string dims_string(const std::vector<int>& dims) {
  return fmt::format("[{}]", fmt::join(dims, ", "));
}

// The shapes of a reduction of x over dims: `keep` has every reduced dim set to 1, `out` is keep
// (keepdim) or x's shape without the reduced dims. ShapeError for an out-of-range or repeated dim.
struct ReducedShapes {
  Shape keep;
  Shape out;
};

ReducedShapes reduced_shapes(std::string_view op, const Shape& shape, const std::vector<int>& dims,
                             bool keepdim) {
  std::vector<bool> reduced(shape.size(), dims.empty());
  for (const int d : dims) {
    const auto a = static_cast<std::size_t>(normalize_axis(op, d, shape));
    if (reduced[a]) {
      throw ShapeError(fmt::format("{}: dim {} is repeated in dims {} (x: {})", op, d,
                                   dims_string(dims), to_string(shape)));
    }
    reduced[a] = true;
  }
  ReducedShapes r{shape, {}};
  for (std::size_t a = 0; a < shape.size(); ++a) {
    if (reduced[a]) {
      r.keep[a] = 1;
    } else {
      r.out.push_back(shape[a]);
    }
  }
  if (keepdim) {
    r.out = r.keep;
  }
  return r;
}

// The number m of elements each output of a mean averages; ValueError when it is 0.
double mean_count(const Shape& shape, const Shape& keep, const std::vector<int>& dims) {
  std::int64_t m = 1;
  for (std::size_t a = 0; a < shape.size(); ++a) {
    if (keep[a] != shape[a]) {  // a reduced dim (reduced dims of size 1 contribute 1 either way)
      m *= shape[a];
    }
  }
  if (m == 0) {
    throw ValueError(fmt::format("mean: cannot average over zero elements (x: {}, dims: {})",
                                 to_string(shape), dims_string(dims)));
  }
  return static_cast<double>(m);
}

void check_grad_shape(std::string_view op, const Tensor& dy, const Shape& want,
                      const Shape& x_shape) {
  if (dy.shape() != want) {
    throw ShapeError(fmt::format("{}: dy should have shape {} (dy: {}, x: {})", op, to_string(want),
                                 to_string(dy.shape()), to_string(x_shape)));
  }
}

struct SumNode final : Node {
  Shape x_shape;
  std::vector<int> dims;
  bool keepdim = false;
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {sum_backward(dy, x_shape, dims, keepdim)};
  }
  std::string_view name() const override { return "sum"; }
};

struct MeanNode final : Node {
  Shape x_shape;
  std::vector<int> dims;
  bool keepdim = false;
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {mean_backward(dy, x_shape, dims, keepdim)};
  }
  std::string_view name() const override { return "mean"; }
};

struct MaxNode final : Node {
  Tensor indices;  // int64, the shape of the output
  Shape x_shape;
  int dim = 0;
  bool keepdim = false;
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {max_backward(dy, indices, x_shape, dim, keepdim)};
  }
  std::string_view name() const override { return "max"; }
  void release() override { indices = Tensor(); }
};

}  // namespace

// ---- Tensor level ----

Tensor sum_forward(const Tensor& x, const std::vector<int>& dims, bool keepdim) {
  if (!is_floating(x.dtype())) {
    throw_not_floating("sum", x.dtype());
  }
  const ReducedShapes r = reduced_shapes("sum", x.shape(), dims, keepdim);
  Tensor y = sum_to_shape(x, r.keep);
  if (y.shares_storage(x)) {  // nothing was reduced: still return a new tensor
    y = y.clone();
  }
  return y.view(r.out);
}

Tensor sum_backward(const Tensor& dy, const Shape& x_shape, const std::vector<int>& dims,
                    bool keepdim) {
  const ReducedShapes r = reduced_shapes("sum_backward", x_shape, dims, keepdim);
  check_grad_shape("sum_backward", dy, r.out, x_shape);
  return broadcast_to(dy.reshape(r.keep), x_shape);
}

Tensor mean_forward(const Tensor& x, const std::vector<int>& dims, bool keepdim) {
  if (!is_floating(x.dtype())) {
    throw_not_floating("mean", x.dtype());
  }
  const ReducedShapes r = reduced_shapes("mean", x.shape(), dims, keepdim);
  const double m = mean_count(x.shape(), r.keep, dims);
  Tensor y = sum_forward(x, dims, keepdim);  // a new tensor: safe to scale in place
  scale_(y, 1.0 / m);
  return y;
}

Tensor mean_backward(const Tensor& dy, const Shape& x_shape, const std::vector<int>& dims,
                     bool keepdim) {
  const ReducedShapes r = reduced_shapes("mean_backward", x_shape, dims, keepdim);
  const double m = mean_count(x_shape, r.keep, dims);
  check_grad_shape("mean_backward", dy, r.out, x_shape);
  return broadcast_to(mul_scalar_forward(dy, 1.0 / m).view(r.keep), x_shape);
}

MaxResult max_forward(const Tensor& x, int dim, bool keepdim) {
  const Shape& shape = x.shape();
  const int d = normalize_axis("max", dim, shape);
  const std::int64_t D = shape[static_cast<std::size_t>(d)];
  if (D == 0) {
    throw ShapeError(fmt::format("max: cannot take the maximum over an empty dim {} (x: {})", dim,
                                 to_string(shape)));
  }
  const std::int64_t inner = numel_from(shape, d + 1);
  const std::int64_t outer = D * inner == 0 ? 0 : x.numel() / (D * inner);
  const ReducedShapes r = reduced_shapes("max", shape, {dim}, keepdim);
  const Tensor xc = x.contiguous();
  Tensor values = Tensor::empty(r.keep, x.dtype());
  Tensor indices = Tensor::empty(r.keep, DType::i64);
  visit_float(x.dtype(), "max", [&]<class T>() {
    max_forward(xc.data<T>().data(), outer, D, inner, values.data<T>().data(),
                indices.data<std::int64_t>().data());
  });
  return {values.view(r.out), indices.view(r.out)};
}

Tensor max_backward(const Tensor& dy, const Tensor& indices, const Shape& x_shape, int dim,
                    bool keepdim) {
  const int d = normalize_axis("max_backward", dim, x_shape);
  const std::int64_t D = x_shape[static_cast<std::size_t>(d)];
  const ReducedShapes r = reduced_shapes("max_backward", x_shape, {dim}, keepdim);
  check_grad_shape("max_backward", dy, r.out, x_shape);
  if (indices.dtype() != DType::i64 || indices.shape() != dy.shape()) {
    throw ShapeError(fmt::format(
        "max_backward: indices must be int64 of dy's shape (dy: {}, "
        "indices: {} {})",
        to_string(dy.shape()), dtype_name(indices.dtype()), to_string(indices.shape())));
  }
  const std::int64_t inner = numel_from(x_shape, d + 1);
  const std::int64_t outer = D * inner == 0 ? 0 : shape_numel(x_shape) / (D * inner);
  const Tensor dyc = dy.contiguous();
  const Tensor ic = indices.contiguous();
  Tensor dx = Tensor::zeros(x_shape, dy.dtype());
  visit_float(dy.dtype(), "max_backward", [&]<class T>() {
    max_backward(dyc.data<T>().data(), ic.data<std::int64_t>().data(), outer, D, inner,
                 dx.data<T>().data());
  });
  return dx;
}

// ---- Variable level ----

Variable sum(const Variable& a) {
  return sum(a, {}, false);
}

Variable sum(const Variable& a, const std::vector<int>& dims, bool keepdim) {
  Tensor y = sum_forward(a.data(), dims, keepdim);
  std::shared_ptr<SumNode> node;
  if (any_requires_grad({a})) {
    node = std::make_shared<SumNode>();
    node->x_shape = a.shape();
    node->dims = dims;
    node->keepdim = keepdim;
  }
  return make_output(std::move(y), std::move(node), {a});
}

Variable mean(const Variable& a) {
  return mean(a, {}, false);
}

Variable mean(const Variable& a, const std::vector<int>& dims, bool keepdim) {
  Tensor y = mean_forward(a.data(), dims, keepdim);
  std::shared_ptr<MeanNode> node;
  if (any_requires_grad({a})) {
    node = std::make_shared<MeanNode>();
    node->x_shape = a.shape();
    node->dims = dims;
    node->keepdim = keepdim;
  }
  return make_output(std::move(y), std::move(node), {a});
}

Variable max(const Variable& a, int dim, bool keepdim) {
  MaxResult r = max_forward(a.data(), dim, keepdim);
  std::shared_ptr<MaxNode> node;
  if (any_requires_grad({a})) {
    node = std::make_shared<MaxNode>();
    node->indices = std::move(r.indices);
    node->x_shape = a.shape();
    node->dim = dim;
    node->keepdim = keepdim;
  }
  return make_output(std::move(r.values), std::move(node), {a});
}

}  // namespace normlab
