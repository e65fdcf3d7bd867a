// core/dtype.h: the runtime element type of a Tensor and the one place that dispatches on it.
// f32 trains, f64 checks gradients; u8, i32 and i64 hold images, labels and .npy integers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "core/error.h"

namespace normlab {

enum class DType : std::uint8_t { f32, f64, u8, i32, i64 };

std::string_view dtype_name(DType dtype);
std::size_t dtype_size(DType dtype);
bool is_floating(DType dtype);

template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::f32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::f64;
}
template <>
constexpr DType dtype_of<std::uint8_t>() {
  return DType::u8;
}
template <>
constexpr DType dtype_of<std::int32_t>() {
  return DType::i32;
}
template <>
constexpr DType dtype_of<std::int64_t>() {
  return DType::i64;
}

[[noreturn]] void throw_not_floating(std::string_view op, DType dtype);

// Calls f.template operator()<T>() with T = float or double; any other dtype is a DTypeError naming
// op.
//   visit_float(x.dtype(), "relu", [&]<class T>() { relu_forward(x.data<T>().data(), ...); });
template <class F>
decltype(auto) visit_float(DType dtype, std::string_view op, F&& f) {
  switch (dtype) {
    case DType::f32:
      return std::forward<F>(f).template operator()<float>();
    case DType::f64:
      return std::forward<F>(f).template operator()<double>();
    case DType::u8:
    case DType::i32:
    case DType::i64:
      break;
  }
  throw_not_floating(op, dtype);
}

// Calls f.template operator()<T>() for every dtype (the floating ones through visit_float).
template <class F>
decltype(auto) visit_dtype(DType dtype, F&& f) {
  switch (dtype) {
    case DType::f32:
    case DType::f64:
      return visit_float(dtype, "visit_dtype", std::forward<F>(f));
    case DType::u8:
      return std::forward<F>(f).template operator()<std::uint8_t>();
    case DType::i32:
      return std::forward<F>(f).template operator()<std::int32_t>();
    case DType::i64:
      return std::forward<F>(f).template operator()<std::int64_t>();
  }
  return std::forward<F>(f).template operator()<float>();  // unreachable: every case returns
}

}  // namespace normlab
