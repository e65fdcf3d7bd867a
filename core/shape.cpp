#include "core/shape.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "core/error.h"

namespace normlab {

std::string to_string(const Shape& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) {
      s += ", ";
    }
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::int64_t shape_numel(const Shape& shape) {
  return numel_from(shape, 0);
}

std::int64_t numel_from(const Shape& shape, int first_axis) {
  std::int64_t n = 1;
  for (std::size_t i = static_cast<std::size_t>(std::max(first_axis, 0)); i < shape.size(); ++i) {
    n *= shape[i];
  }
  return n;
}

std::vector<std::int64_t> unravel_index(std::int64_t flat, const Shape& shape) {
  std::vector<std::int64_t> index(shape.size());
  for (std::size_t i = shape.size(); i-- > 0;) {
    index[i] = flat % shape[i];
    flat /= shape[i];
  }
  return index;
}

Strides contiguous_strides(const Shape& shape) {
  Strides strides(shape.size());
  std::int64_t stride = 1;
  for (std::size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= std::max<std::int64_t>(shape[i], 1);
  }
  return strides;
}

int normalize_axis(std::string_view op, int axis, const Shape& shape) {
  const int ndim = static_cast<int>(shape.size());
  if (axis < -ndim || axis >= ndim) {
    throw ShapeError(
        fmt::format("{}: axis {} is out of range for a tensor of {} dimensions (x: {})", op, axis,
                    ndim, to_string(shape)));
  }
  return axis < 0 ? axis + ndim : axis;
}

Shape broadcast_shapes(std::string_view op, const Shape& a, const Shape& b) {
  const std::size_t ndim = std::max(a.size(), b.size());
  Shape out(ndim);
  for (std::size_t i = 0; i < ndim; ++i) {
    const std::int64_t da = i < ndim - a.size() ? 1 : a[i - (ndim - a.size())];
    const std::int64_t db = i < ndim - b.size() ? 1 : b[i - (ndim - b.size())];
    if (da != db && da != 1 && db != 1) {
      throw ShapeError(fmt::format("{}: shapes cannot be broadcast (a: {}, b: {})", op,
                                   to_string(a), to_string(b)));
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

void check_valid_shape(std::string_view op, const Shape& shape) {
  // The strides multiply max(d, 1) over every axis, so even an empty tensor's other dimensions
  // must have a product that fits in int64.
  std::int64_t span = 1;
  for (const std::int64_t d : shape) {
    if (d < 0) {
      throw ShapeError(fmt::format("{}: negative dimension in shape {}", op, to_string(shape)));
    }
    const std::int64_t m = std::max<std::int64_t>(d, 1);
    if (span > std::numeric_limits<std::int64_t>::max() / m) {
      throw ShapeError(
          fmt::format("{}: shape {} has more than 2^63 elements", op, to_string(shape)));
    }
    span *= m;
  }
}

}  // namespace normlab
