#include "core/dtype.h"

#include <fmt/format.h>

namespace normlab {

std::string_view dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return "float32";
    case DType::f64:
      return "float64";
    case DType::u8:
      return "uint8";
    case DType::i32:
      return "int32";
    case DType::i64:
      return "int64";
  }
  return "unknown";
}

std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return 4;
    case DType::f64:
      return 8;
    case DType::u8:
      return 1;
    case DType::i32:
      return 4;
    case DType::i64:
      return 8;
  }
  return 0;
}

bool is_floating(DType dtype) {
  return dtype == DType::f32 || dtype == DType::f64;
}

void throw_not_floating(std::string_view op, DType dtype) {
  throw DTypeError(
      fmt::format("{}: expected a float32 or float64 tensor, got {}", op, dtype_name(dtype)));
}

}  // namespace normlab
