// autograd/ops/shape_ops.cpp: reshape, permute, slice and concat.
// reshape, permute and slice move no data in the forward (views); their backwards are the inverse
// view, or a copy into zeros for slice. concat copies rows: with x viewed as (outer, C·inner)
// around the concat dim, each part fills a contiguous column block of every output row.
#include "autograd/ops/shape_ops.h"

#include <fmt/format.h>

#include "autograd/ops.h"
#include "autograd/ops/op_util.h"
#include "core/error.h"

namespace normlab {

namespace {

// forward:  y[o, off + j] = x[o, j]          x: (outer, n), y: (outer, row), one part's block
template <class T>
void concat_forward(const T* x, std::int64_t outer, std::int64_t n, T* y, std::int64_t row,
                    std::int64_t off) {
  for (std::int64_t o = 0; o < outer; ++o) {
    for (std::int64_t j = 0; j < n; ++j) {
      y[o * row + off + j] = x[o * n + j];
    }
  }
}
// backward: dx[o, j] = dy[o, off + j]         the same block read back out
template <class T>
void concat_backward(const T* dy, std::int64_t outer, std::int64_t row, std::int64_t off, T* dx,
                     std::int64_t n) {
  for (std::int64_t o = 0; o < outer; ++o) {
    for (std::int64_t j = 0; j < n; ++j) {
      dx[o * n + j] = dy[o * row + off + j];
    }
  }
}

std::string axes_string(const std::vector<int>& axes) {
  return fmt::format("[{}]", fmt::join(axes, ", "));
}

// The range [start, end) of a slice with negative ends resolved; ShapeError outside the dim.
std::pair<std::int64_t, std::int64_t> slice_range(const Shape& shape, int d, int dim,
                                                  std::int64_t start, std::int64_t end) {
  const std::int64_t n = shape[static_cast<std::size_t>(d)];
  const std::int64_t s = start < 0 ? start + n : start;
  const std::int64_t e = end < 0 ? end + n : end;
  if (s < 0 || e > n || s > e) {
    throw ShapeError(fmt::format("slice: range [{}, {}) is outside dim {} of size {} (x: {})",
                                 start, end, dim, n, to_string(shape)));
  }
  return {s, e};
}

struct ReshapeNode final : Node {
  Shape x_shape;
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {reshape_backward(dy, x_shape)};
  }
  std::string_view name() const override { return "reshape"; }
};

struct PermuteNode final : Node {
  std::vector<int> axes;
  std::vector<Tensor> backward(const Tensor& dy) override { return {permute_backward(dy, axes)}; }
  std::string_view name() const override { return "permute"; }
};

struct SliceNode final : Node {
  Shape x_shape;
  int dim = 0;
  std::int64_t start = 0, end = 0;
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {slice_backward(dy, x_shape, dim, start, end)};
  }
  std::string_view name() const override { return "slice"; }
};

struct ConcatNode final : Node {
  std::vector<Shape> part_shapes;
  int dim = 0;
  std::vector<Tensor> backward(const Tensor& dy) override {
    return concat_backward(dy, part_shapes, dim);
  }
  std::string_view name() const override { return "concat"; }
};

}  // namespace

// ---- Tensor level ----

Tensor reshape_forward(const Tensor& x, const Shape& shape) {
  std::int64_t known = 1;
  int inferred = 0;
  for (const std::int64_t s : shape) {
    if (s == -1) {
      ++inferred;
    } else if (s < 0) {
      inferred = 2;  // invalid: reported below
    } else {
      known *= s;
    }
  }
  const bool ok =
      inferred == 0 ? known == x.numel() : inferred == 1 && known != 0 && x.numel() % known == 0;
  if (!ok) {
    throw ShapeError(fmt::format("reshape: cannot reshape x: {} ({} elements) to {}",
                                 to_string(x.shape()), x.numel(), to_string(shape)));
  }
  return x.reshape(shape);
}

Tensor reshape_backward(const Tensor& dy, const Shape& x_shape) {
  if (dy.numel() != shape_numel(x_shape)) {
    throw ShapeError(
        fmt::format("reshape_backward: dy has {} elements but x has {} (dy: {}, x: {})", dy.numel(),
                    shape_numel(x_shape), to_string(dy.shape()), to_string(x_shape)));
  }
  return dy.reshape(x_shape);
}

Tensor permute_forward(const Tensor& x, const std::vector<int>& axes) {
  std::vector<bool> seen(static_cast<std::size_t>(x.ndim()), false);
  bool ok = axes.size() == seen.size();
  for (std::size_t i = 0; ok && i < axes.size(); ++i) {
    const int a = axes[i] < 0 ? axes[i] + x.ndim() : axes[i];
    ok = a >= 0 && a < x.ndim() && !seen[static_cast<std::size_t>(a)];
    if (ok) {
      seen[static_cast<std::size_t>(a)] = true;
    }
  }
  if (!ok) {
    throw ShapeError(fmt::format("permute: axes {} are not a permutation of the {} dims of x: {}",
                                 axes_string(axes), x.ndim(), to_string(x.shape())));
  }
  return x.permute(axes);
}

Tensor permute_backward(const Tensor& dy, const std::vector<int>& axes) {
  const int nd = static_cast<int>(axes.size());
  std::vector<int> inverse(axes.size());
  for (int i = 0; i < nd; ++i) {
    const int a = axes[static_cast<std::size_t>(i)];
    inverse[static_cast<std::size_t>(a < 0 ? a + nd : a)] = i;
  }
  return permute_forward(dy, inverse);
}

Tensor slice_forward(const Tensor& x, int dim, std::int64_t start, std::int64_t end) {
  const int d = normalize_axis("slice", dim, x.shape());
  const auto [s, e] = slice_range(x.shape(), d, dim, start, end);
  return x.narrow(d, s, e - s);
}

Tensor slice_backward(const Tensor& dy, const Shape& x_shape, int dim, std::int64_t start,
                      std::int64_t end) {
  const int d = normalize_axis("slice_backward", dim, x_shape);
  const auto [s, e] = slice_range(x_shape, d, dim, start, end);
  Tensor dx = Tensor::zeros(x_shape, dy.dtype());
  dx.narrow(d, s, e - s).copy_(dy);  // copy_ names both shapes if dy does not fit
  return dx;
}

Tensor concat_forward(const std::vector<Tensor>& parts, int dim) {
  if (parts.empty()) {
    throw ValueError("concat: no tensors to concatenate");
  }
  const Tensor& first = parts[0];
  const int d = normalize_axis("concat", dim, first.shape());
  Shape out_shape = first.shape();
  out_shape[static_cast<std::size_t>(d)] = 0;
  for (std::size_t p = 0; p < parts.size(); ++p) {
    Shape s = parts[p].shape();
    if (s.size() == out_shape.size()) {
      out_shape[static_cast<std::size_t>(d)] += s[static_cast<std::size_t>(d)];
      s[static_cast<std::size_t>(d)] = out_shape[static_cast<std::size_t>(d)];
    }
    if (s != out_shape) {
      throw ShapeError(
          fmt::format("concat: part {} does not match part 0 outside dim {} "
                      "(part 0: {}, part {}: {})",
                      p, dim, to_string(first.shape()), p, to_string(parts[p].shape())));
    }
    check_same_dtype("concat", first, parts[p]);
  }
  Tensor y = Tensor::empty(out_shape, first.dtype());
  const std::int64_t outer = shape_numel(Shape(out_shape.begin(), out_shape.begin() + d));
  const std::int64_t row = numel_from(out_shape, d);
  visit_float(first.dtype(), "concat", [&]<class T>() {
    std::int64_t off = 0;
    for (const Tensor& part : parts) {
      const Tensor pc = part.contiguous();
      const std::int64_t n = numel_from(part.shape(), d);
      concat_forward(pc.data<T>().data(), outer, n, y.data<T>().data(), row, off);
      off += n;
    }
  });
  return y;
}

std::vector<Tensor> concat_backward(const Tensor& dy, const std::vector<Shape>& part_shapes,
                                    int dim) {
  const int d = normalize_axis("concat_backward", dim, dy.shape());
  std::int64_t total = 0;
  for (const Shape& s : part_shapes) {
    total += s.size() == dy.shape().size() ? s[static_cast<std::size_t>(d)] : 0;
  }
  if (total != dy.dim(d)) {
    throw ShapeError(fmt::format("concat_backward: parts add up to {} along dim {} (dy: {})", total,
                                 dim, to_string(dy.shape())));
  }
  const Tensor dyc = dy.contiguous();
  const std::int64_t outer = shape_numel(Shape(dy.shape().begin(), dy.shape().begin() + d));
  const std::int64_t row = numel_from(dy.shape(), d);
  std::vector<Tensor> dxs;
  visit_float(dy.dtype(), "concat_backward", [&]<class T>() {
    std::int64_t off = 0;
    for (const Shape& s : part_shapes) {
      Tensor dx = Tensor::empty(s, dy.dtype());
      const std::int64_t n = numel_from(s, d);
      concat_backward(dyc.data<T>().data(), outer, row, off, dx.data<T>().data(), n);
      off += n;
      dxs.push_back(std::move(dx));
    }
  });
  return dxs;
}

// ---- Variable level ----

Variable reshape(const Variable& a, const Shape& shape) {
  Tensor y = reshape_forward(a.data(), shape);
  std::shared_ptr<ReshapeNode> node;
  if (any_requires_grad({a})) {
    node = std::make_shared<ReshapeNode>();
    node->x_shape = a.shape();
  }
  return make_output(std::move(y), std::move(node), {a});
}

Variable permute(const Variable& a, const std::vector<int>& axes) {
  Tensor y = permute_forward(a.data(), axes);
  std::shared_ptr<PermuteNode> node;
  if (any_requires_grad({a})) {
    node = std::make_shared<PermuteNode>();
    node->axes = axes;
  }
  return make_output(std::move(y), std::move(node), {a});
}

Variable slice(const Variable& a, int dim, std::int64_t start, std::int64_t end) {
  Tensor y = slice_forward(a.data(), dim, start, end);
  std::shared_ptr<SliceNode> node;
  if (any_requires_grad({a})) {
    node = std::make_shared<SliceNode>();
    node->x_shape = a.shape();
    node->dim = dim;
    node->start = start;
    node->end = end;
  }
  return make_output(std::move(y), std::move(node), {a});
}

Variable concat(const std::vector<Variable>& parts, int dim) {
  std::vector<Tensor> data;
  data.reserve(parts.size());
  for (const Variable& p : parts) {
    data.push_back(p.data());
  }
  Tensor y = concat_forward(data, dim);
  std::shared_ptr<ConcatNode> node;
  if (any_requires_grad(parts)) {
    node = std::make_shared<ConcatNode>();
    for (const Tensor& t : data) {
      node->part_shapes.push_back(t.shape());
    }
    node->dim = dim;
  }
  return make_output(std::move(y), std::move(node), parts);
}

}  // namespace normlab
