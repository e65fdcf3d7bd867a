// autograd/ops/broadcast.h: NumPy broadcasting for the elementwise ops and its adjoint.
// Broadcasting copies a value along axes of size 1 (or missing leading axes); the adjoint of a copy
// is a sum, so the gradient of a broadcast operand is the output gradient summed over those axes:
//   y = broadcast_to(x, S)   ⇒   dx = sum_to_shape(dy, shape(x))
#pragma once

#include "core/tensor.h"

namespace normlab {

// x (any strides) copied densely to `shape`, which x must broadcast to; x itself when it already
// has that shape and is contiguous (no copy).
Tensor broadcast_to(const Tensor& x, const Shape& shape);

// g: any shape that `shape` broadcasts to. Sums g over every broadcast axis (leading axes that
// `shape` lacks, and axes where `shape` has 1 and g does not); returns a contiguous tensor of
// `shape`, g itself when the shapes already match and g is contiguous. Accumulates in double.
Tensor sum_to_shape(const Tensor& g, const Shape& shape);

}  // namespace normlab
