// core/tensor.h: an n-dimensional array with a runtime dtype; data only, gradients are autograd's.
// A Tensor is a cheap handle: copying it shares the storage. Views (view, permute, transpose,
// narrow, select) share storage and differ in shape, strides and offset; contiguous() and clone()
// copy. See docs/architecture.md, "How a tensor owns memory".
#pragma once

#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/shape.h"
#include "core/storage.h"

namespace normlab {

class Tensor {
 public:
  Tensor() = default;  // undefined: defined() is false

  static Tensor empty(Shape shape, DType dtype = DType::f32);  // contiguous, uninitialized
  static Tensor zeros(Shape shape, DType dtype = DType::f32);
  static Tensor ones(Shape shape, DType dtype = DType::f32);
  static Tensor full(Shape shape, double value, DType dtype = DType::f32);
  static Tensor scalar(double value, DType dtype = DType::f32);  // shape []
  // Copies values (row-major) into a new tensor of the given dtype; ShapeError if counts differ.
  static Tensor from_vector(Shape shape, const std::vector<double>& values,
                            DType dtype = DType::f32);

  bool defined() const noexcept { return storage_ != nullptr; }
  const Shape& shape() const noexcept { return shape_; }
  const Strides& strides() const noexcept { return strides_; }
  std::int64_t offset() const noexcept { return offset_; }
  DType dtype() const noexcept { return dtype_; }
  int ndim() const noexcept { return static_cast<int>(shape_.size()); }
  std::int64_t dim(int axis) const;  // axis < 0 counts from the end; throws ShapeError
  std::int64_t numel() const noexcept { return shape_numel(shape_); }
  bool is_contiguous() const noexcept;

  // The elements of a contiguous tensor; DTypeError for the wrong T, ShapeError if not contiguous.
  template <class T>
  std::span<T> data();
  template <class T>
  std::span<const T> data() const;
  // Pointer to element [0, ..., 0] with no contiguity requirement (for strided kernels).
  template <class T>
  T* data_ptr();
  template <class T>
  const T* data_ptr() const;

  // Element access by multi-index (any strides). at<T> checks dtype and bounds.
  template <class T>
  T& at(const std::vector<std::int64_t>& index);
  template <class T>
  const T& at(const std::vector<std::int64_t>& index) const;
  double get(const std::vector<std::int64_t>& index) const;  // any dtype, as double
  void set(const std::vector<std::int64_t>& index, double value);
  double item() const;  // the single element of a one-element tensor, as double

  // Views: share storage, never copy.
  Tensor view(Shape shape) const;  // contiguous only; one dimension may be -1
  Tensor permute(const std::vector<int>& axes) const;
  Tensor transpose(int a, int b) const;
  Tensor narrow(int axis, std::int64_t start, std::int64_t length) const;
  Tensor select(int axis, std::int64_t index) const;  // drops the axis
  Tensor expand(const Shape& shape) const;            // broadcast view (stride 0 on expanded axes)
  // reshape is a view when the tensor is contiguous and a copy otherwise.
  Tensor reshape(Shape shape) const;

  Tensor contiguous() const;     // this tensor if already contiguous, else a contiguous copy
  Tensor clone() const;          // always a contiguous copy
  Tensor to(DType dtype) const;  // converted copy (this tensor if the dtype already matches)

  void fill_(double value);
  void copy_(const Tensor& src);  // same shape, any strides and dtypes; ShapeError otherwise

  bool shares_storage(const Tensor& other) const noexcept { return storage_ == other.storage_; }
  // No other Tensor (view, copy of the handle) refers to this storage: writing into it in place
  // cannot change what anyone else sees.
  bool owns_storage_alone() const noexcept { return storage_.use_count() == 1; }
  std::string to_string(int max_per_dim = 6) const;  // for printing and error reports

 private:
  void check_dtype(DType want) const;
  std::int64_t linear_offset(const std::vector<std::int64_t>& index) const;
  std::shared_ptr<Storage> storage_;
  std::int64_t offset_ = 0;  // in elements
  Shape shape_;
  Strides strides_;
  DType dtype_ = DType::f32;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// "x: [2, 3]" lists for error messages.
std::string describe(std::string_view name, const Tensor& t);
void check_same_shape(std::string_view op, const Tensor& a, const Tensor& b);
void check_same_dtype(std::string_view op, const Tensor& a, const Tensor& b);
void check_ndim(std::string_view op, const Tensor& x, int ndim, std::string_view name = "x");
void check_defined(std::string_view op, const Tensor& x, std::string_view name = "x");

// ---- template definitions ----
template <class T>
std::span<T> Tensor::data() {
  check_dtype(dtype_of<T>());
  if (!is_contiguous()) {
    throw ShapeError("data: tensor is not contiguous (x: " + normlab::to_string(shape_) +
                     "); call contiguous() first");
  }
  return {data_ptr<T>(), static_cast<std::size_t>(numel())};
}

template <class T>
std::span<const T> Tensor::data() const {
  return const_cast<Tensor*>(this)->data<T>();  // NOLINT: const view of the same elements
}

template <class T>
T* Tensor::data_ptr() {
  check_dtype(dtype_of<T>());
  return reinterpret_cast<T*>(storage_->data()) + offset_;  // NOLINT: storage is typed by dtype_
}

template <class T>
const T* Tensor::data_ptr() const {
  return const_cast<Tensor*>(this)->data_ptr<T>();
}

template <class T>
T& Tensor::at(const std::vector<std::int64_t>& index) {
  check_dtype(dtype_of<T>());
  return reinterpret_cast<T*>(storage_->data())[linear_offset(index)];
}

template <class T>
const T& Tensor::at(const std::vector<std::int64_t>& index) const {
  return const_cast<Tensor*>(this)->at<T>(index);
}

}  // namespace normlab
