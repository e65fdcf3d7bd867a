// core/shape.h: shapes and strides (in elements, outermost first) and the checks every op shares.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace normlab {

using Shape = std::vector<std::int64_t>;    // outermost first: (N, C, H, W)
using Strides = std::vector<std::int64_t>;  // in elements, not bytes

std::string to_string(const Shape& shape);  // "[2, 3, 4]"
std::int64_t shape_numel(const Shape& shape);
std::int64_t numel_from(const Shape& shape, int first_axis);  // product of shape[first_axis:]
Strides contiguous_strides(const Shape& shape);
// The index of element `flat` of a contiguous row-major tensor of `shape`: [1, 2] for 5 in (2, 3).
std::vector<std::int64_t> unravel_index(std::int64_t flat, const Shape& shape);

// Maps axis in [-ndim, ndim) to [0, ndim); otherwise ShapeError naming op and the shape.
int normalize_axis(std::string_view op, int axis, const Shape& shape);

// NumPy broadcasting of two shapes; ShapeError "op: shapes cannot be broadcast (a: [...], b:
// [...])".
Shape broadcast_shapes(std::string_view op, const Shape& a, const Shape& b);

// Throws ShapeError when any dimension is negative or the product of max(d, 1) over the axes (what
// the strides of even an empty tensor multiply) does not fit in int64.
void check_valid_shape(std::string_view op, const Shape& shape);

}  // namespace normlab
