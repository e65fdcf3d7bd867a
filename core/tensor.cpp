// core/tensor.cpp: construction, views and copies. Strided loops walk the innermost axis as a
// plain loop so that copies of permuted views stay close to memory speed.
#include "core/tensor.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <ostream>
#include <sstream>

#include "core/error.h"

namespace normlab {

namespace {

// Calls f(src_offset, dst_offset, n, src_inner_stride) for every innermost run of a strided walk
// over shape, where src and dst have their own strides (dst is usually contiguous).
template <class F>
void for_each_run(const Shape& shape, const Strides& src_strides, std::int64_t src_offset,
                  const Strides& dst_strides, std::int64_t dst_offset, F&& f) {
  const int nd = static_cast<int>(shape.size());
  if (shape_numel(shape) == 0) {
    return;
  }
  if (nd == 0) {
    f(src_offset, dst_offset, std::int64_t{1}, std::int64_t{1}, std::int64_t{1});
    return;
  }
  const std::int64_t inner = shape[static_cast<std::size_t>(nd - 1)];
  const std::int64_t s_in = src_strides[static_cast<std::size_t>(nd - 1)];
  const std::int64_t d_in = dst_strides[static_cast<std::size_t>(nd - 1)];
  std::vector<std::int64_t> idx(static_cast<std::size_t>(nd), 0);
  std::int64_t so = src_offset;
  std::int64_t dof = dst_offset;
  while (true) {
    f(so, dof, inner, s_in, d_in);
    int axis = nd - 2;
    for (; axis >= 0; --axis) {
      const auto a = static_cast<std::size_t>(axis);
      ++idx[a];
      so += src_strides[a];
      dof += dst_strides[a];
      if (idx[a] < shape[a]) {
        break;
      }
      so -= src_strides[a] * shape[a];
      dof -= dst_strides[a] * shape[a];
      idx[a] = 0;
    }
    if (axis < 0) {
      return;
    }
  }
}

template <class S, class D>
void strided_copy(const S* src, const Shape& shape, const Strides& ss, std::int64_t so, D* dst,
                  const Strides& ds, std::int64_t dof) {
  for_each_run(
      shape, ss, so, ds, dof,
      [&](std::int64_t s, std::int64_t d, std::int64_t n, std::int64_t si, std::int64_t di) {
        if (si == 1 && di == 1) {
          for (std::int64_t i = 0; i < n; ++i) {
            dst[d + i] = static_cast<D>(src[s + i]);
          }
        } else {
          for (std::int64_t i = 0; i < n; ++i) {
            dst[d + i * di] = static_cast<D>(src[s + i * si]);
          }
        }
      });
}

[[noreturn]] void throw_count_mismatch(std::string_view op, const Shape& shape, std::size_t count) {
  throw ShapeError(fmt::format("{}: {} values given for shape {} ({} elements)", op, count,
                               normlab::to_string(shape), shape_numel(shape)));
}

}  // namespace

Tensor Tensor::empty(Shape shape, DType dtype) {
  check_valid_shape("empty", shape);
  Tensor t;
  t.strides_ = contiguous_strides(shape);
  t.storage_ =
      std::make_shared<Storage>(static_cast<std::size_t>(shape_numel(shape)) * dtype_size(dtype));
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::zeros(Shape shape, DType dtype) {
  Tensor t = empty(std::move(shape), dtype);
  std::memset(t.storage_->data(), 0, t.storage_->nbytes());
  return t;
}

Tensor Tensor::ones(Shape shape, DType dtype) {
  return full(std::move(shape), 1.0, dtype);
}

Tensor Tensor::full(Shape shape, double value, DType dtype) {
  Tensor t = empty(std::move(shape), dtype);
  t.fill_(value);
  return t;
}

Tensor Tensor::scalar(double value, DType dtype) {
  return full({}, value, dtype);
}

Tensor Tensor::from_vector(Shape shape, const std::vector<double>& values, DType dtype) {
  Tensor t = empty(std::move(shape), dtype);
  if (static_cast<std::int64_t>(values.size()) != t.numel()) {
    throw_count_mismatch("from_vector", t.shape(), values.size());
  }
  visit_dtype(dtype, [&]<class T>() {
    T* out = t.data_ptr<T>();
    for (std::size_t i = 0; i < values.size(); ++i) {
      out[i] = static_cast<T>(values[i]);
    }
  });
  return t;
}

std::int64_t Tensor::dim(int axis) const {
  return shape_[static_cast<std::size_t>(normalize_axis("dim", axis, shape_))];
}

bool Tensor::is_contiguous() const noexcept {
  if (numel() == 0) {
    return true;  // no element to misplace (as in PyTorch); Tensor::empty gives such shapes
  }
  std::int64_t expected = 1;
  for (std::size_t i = shape_.size(); i-- > 0;) {
    if (shape_[i] != 1 && strides_[i] != expected) {
      return false;
    }
    expected *= shape_[i];
  }
  return true;
}

void Tensor::check_dtype(DType want) const {
  if (!defined()) {
    throw ValueError("tensor: access to an undefined tensor");
  }
  if (dtype_ != want) {
    throw DTypeError(fmt::format("tensor: element type is {} but {} was requested (x: {})",
                                 dtype_name(dtype_), dtype_name(want), normlab::to_string(shape_)));
  }
}

std::int64_t Tensor::linear_offset(const std::vector<std::int64_t>& index) const {
  if (index.size() != shape_.size()) {
    throw ShapeError(
        fmt::format("at: index has {} components for a tensor of {} dimensions (x: {})",
                    index.size(), shape_.size(), normlab::to_string(shape_)));
  }
  std::int64_t off = offset_;
  for (std::size_t i = 0; i < index.size(); ++i) {
    if (index[i] < 0 || index[i] >= shape_[i]) {
      throw ShapeError(fmt::format("at: index {} is out of bounds (x: {})",
                                   normlab::to_string(index), normlab::to_string(shape_)));
    }
    off += index[i] * strides_[i];
  }
  return off;
}

double Tensor::get(const std::vector<std::int64_t>& index) const {
  const std::int64_t off = linear_offset(index);
  return visit_dtype(dtype_, [&]<class T>() -> double {
    return static_cast<double>(reinterpret_cast<const T*>(storage_->data())[off]);
  });
}

void Tensor::set(const std::vector<std::int64_t>& index, double value) {
  const std::int64_t off = linear_offset(index);
  visit_dtype(dtype_, [&]<class T>() {
    reinterpret_cast<T*>(storage_->data())[off] = static_cast<T>(value);
  });
}

double Tensor::item() const {
  if (numel() != 1) {
    throw ShapeError(fmt::format("item: tensor has {} elements, not 1 (x: {})", numel(),
                                 normlab::to_string(shape_)));
  }
  return get(std::vector<std::int64_t>(shape_.size(), 0));
}

Tensor Tensor::view(Shape shape) const {
  if (!is_contiguous()) {
    throw ShapeError(fmt::format("view: tensor is not contiguous (x: {}); use reshape",
                                 normlab::to_string(shape_)));
  }
  std::int64_t known = 1;
  int forward_no_grad = -1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1 && forward_no_grad < 0) {
      forward_no_grad = static_cast<int>(i);
    } else if (shape[i] < 0) {
      throw ShapeError(fmt::format("view: invalid target shape {} (x: {})",
                                   normlab::to_string(shape), normlab::to_string(shape_)));
    } else {
      known *= shape[i];
    }
  }
  if (forward_no_grad >= 0) {
    if (known == 0 || numel() % known != 0) {
      throw ShapeError(fmt::format("view: cannot forward_no_grad -1 in {} (x: {})",
                                   normlab::to_string(shape), normlab::to_string(shape_)));
    }
    shape[static_cast<std::size_t>(forward_no_grad)] = numel() / known;
    known = numel();
  }
  if (known != numel()) {
    throw ShapeError(fmt::format("view: shape {} has {} elements but the tensor has {} (x: {})",
                                 normlab::to_string(shape), known, numel(),
                                 normlab::to_string(shape_)));
  }
  Tensor t = *this;
  t.strides_ = contiguous_strides(shape);
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::reshape(Shape shape) const {
  return is_contiguous() ? view(std::move(shape)) : contiguous().view(std::move(shape));
}

Tensor Tensor::permute(const std::vector<int>& axes) const {
  if (axes.size() != shape_.size()) {
    throw ShapeError(fmt::format("permute: {} axes given for a tensor of {} dimensions (x: {})",
                                 axes.size(), shape_.size(), normlab::to_string(shape_)));
  }
  std::vector<bool> seen(axes.size(), false);
  Tensor t = *this;
  for (std::size_t i = 0; i < axes.size(); ++i) {
    const auto a = static_cast<std::size_t>(normalize_axis("permute", axes[i], shape_));
    if (seen[a]) {
      throw ShapeError(
          fmt::format("permute: axis {} repeated (x: {})", a, normlab::to_string(shape_)));
    }
    seen[a] = true;
    t.shape_[i] = shape_[a];
    t.strides_[i] = strides_[a];
  }
  return t;
}

Tensor Tensor::transpose(int a, int b) const {
  std::vector<int> axes(shape_.size());
  for (std::size_t i = 0; i < axes.size(); ++i) {
    axes[i] = static_cast<int>(i);
  }
  const int na = normalize_axis("transpose", a, shape_);
  const int nb = normalize_axis("transpose", b, shape_);
  std::swap(axes[static_cast<std::size_t>(na)], axes[static_cast<std::size_t>(nb)]);
  return permute(axes);
}

Tensor Tensor::narrow(int axis, std::int64_t start, std::int64_t length) const {
  const auto a = static_cast<std::size_t>(normalize_axis("narrow", axis, shape_));
  if (start < 0 || length < 0 || start + length > shape_[a]) {
    throw ShapeError(fmt::format("narrow: range [{}, {}) is outside axis {} of size {} (x: {})",
                                 start, start + length, a, shape_[a], normlab::to_string(shape_)));
  }
  Tensor t = *this;
  t.offset_ += start * strides_[a];
  t.shape_[a] = length;
  return t;
}

Tensor Tensor::select(int axis, std::int64_t index) const {
  const auto a = static_cast<std::size_t>(normalize_axis("select", axis, shape_));
  if (index < 0 || index >= shape_[a]) {
    throw ShapeError(fmt::format("select: index {} is outside axis {} of size {} (x: {})", index, a,
                                 shape_[a], normlab::to_string(shape_)));
  }
  Tensor t = *this;
  t.offset_ += index * strides_[a];
  t.shape_.erase(t.shape_.begin() + static_cast<std::ptrdiff_t>(a));
  t.strides_.erase(t.strides_.begin() + static_cast<std::ptrdiff_t>(a));
  return t;
}

Tensor Tensor::expand(const Shape& shape) const {
  if (shape.size() < shape_.size()) {
    throw ShapeError(fmt::format("expand: target {} has fewer dimensions than x: {}",
                                 normlab::to_string(shape), normlab::to_string(shape_)));
  }
  const std::size_t lead = shape.size() - shape_.size();
  Tensor t = *this;
  t.shape_ = shape;
  t.strides_.assign(shape.size(), 0);
  for (std::size_t i = 0; i < shape_.size(); ++i) {
    if (shape_[i] == shape[lead + i]) {
      t.strides_[lead + i] = strides_[i];
    } else if (shape_[i] != 1) {
      throw ShapeError(fmt::format("expand: cannot expand x: {} to {}", normlab::to_string(shape_),
                                   normlab::to_string(shape)));
    }
  }
  return t;
}

Tensor Tensor::contiguous() const {
  return is_contiguous() ? *this : clone();
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape_, dtype_);
  out.copy_(*this);
  return out;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_) {
    return *this;
  }
  Tensor out = empty(shape_, dtype);
  out.copy_(*this);
  return out;
}

void Tensor::fill_(double value) {
  visit_dtype(dtype_, [&]<class T>() {
    T* base = reinterpret_cast<T*>(storage_->data());
    const T v = static_cast<T>(value);
    for_each_run(shape_, strides_, offset_, strides_, offset_,
                 [&](std::int64_t s, std::int64_t, std::int64_t n, std::int64_t si, std::int64_t) {
                   for (std::int64_t i = 0; i < n; ++i) {
                     base[s + i * si] = v;
                   }
                 });
  });
}

void Tensor::copy_(const Tensor& src) {
  if (src.shape_ != shape_) {
    throw ShapeError(fmt::format("copy_: shapes differ (dst: {}, src: {})",
                                 normlab::to_string(shape_), normlab::to_string(src.shape_)));
  }
  visit_dtype(dtype_, [&]<class D>() {
    D* dst = reinterpret_cast<D*>(storage_->data());
    visit_dtype(src.dtype_, [&]<class S>() {
      const S* s = reinterpret_cast<const S*>(src.storage_->data());
      strided_copy(s, shape_, src.strides_, src.offset_, dst, strides_, offset_);
    });
  });
}

std::string Tensor::to_string(int max_per_dim) const {
  if (!defined()) {
    return "tensor(undefined)";
  }
  std::ostringstream os;
  const auto limit = static_cast<std::int64_t>(max_per_dim);
  std::vector<std::int64_t> idx(shape_.size(), 0);
  // Recursive printer over axes, eliding the middle of long axes with "...".
  auto rec = [&](auto&& self, std::size_t axis) -> void {
    if (axis == shape_.size()) {
      os << fmt::format("{:.6g}", get(idx));
      return;
    }
    os << '[';
    const std::int64_t n = shape_[axis];
    for (std::int64_t i = 0; i < n; ++i) {
      if (n > limit && i == limit / 2) {
        os << "..., ";
        i = n - limit / 2;
      }
      idx[axis] = i;
      self(self, axis + 1);
      if (i + 1 < n) {
        os << ", ";
      }
    }
    os << ']';
  };
  rec(rec, 0);
  os << ", dtype=" << dtype_name(dtype_) << ", shape=" << normlab::to_string(shape_);
  return "tensor(" + os.str() + ")";
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  return os << t.to_string();
}

std::string describe(std::string_view name, const Tensor& t) {
  return fmt::format("{}: {}", name, t.defined() ? normlab::to_string(t.shape()) : "undefined");
}

void check_same_shape(std::string_view op, const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) {
    throw ShapeError(
        fmt::format("{}: shapes differ ({}, {})", op, describe("a", a), describe("b", b)));
  }
}

void check_same_dtype(std::string_view op, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype()) {
    throw DTypeError(fmt::format("{}: dtypes differ (a: {} {}, b: {} {})", op,
                                 dtype_name(a.dtype()), normlab::to_string(a.shape()),
                                 dtype_name(b.dtype()), normlab::to_string(b.shape())));
  }
}

void check_ndim(std::string_view op, const Tensor& x, int ndim, std::string_view name) {
  if (x.ndim() != ndim) {
    throw ShapeError(fmt::format("{}: expected {} dimensions ({})", op, ndim, describe(name, x)));
  }
}

void check_defined(std::string_view op, const Tensor& x, std::string_view name) {
  if (!x.defined()) {
    throw ValueError(fmt::format("{}: {} is undefined", op, name));
  }
}

}  // namespace normlab
