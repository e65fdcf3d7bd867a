// autograd/ops/shape_ops.h: Tensor-level reshape, permute, slice and concat with their backwards.
// reshape (of a contiguous tensor), permute and slice return views that share x's storage, as in
// PyTorch; concat and every backward return new tensors. Errors name the op and every shape.
#pragma once

#include <vector>

#include "core/tensor.h"

namespace normlab {

// One dim of `shape` may be -1 (inferred). A view when x is contiguous, else a copy.
Tensor reshape_forward(const Tensor& x, const Shape& shape);
Tensor reshape_backward(const Tensor& dy, const Shape& x_shape);  // dx = dy viewed as x

// y = x with dims reordered: y.shape[i] = x.shape[axes[i]]. dx = dy permuted by the inverse.
Tensor permute_forward(const Tensor& x, const std::vector<int>& axes);
Tensor permute_backward(const Tensor& dy, const std::vector<int>& axes);

// y = x[..., start:end, ...] along dim; negative start/end count from the end (as in Python), and
// the range must then lie within the dim (no silent clamping). dx = dy placed in zeros.
Tensor slice_forward(const Tensor& x, int dim, std::int64_t start, std::int64_t end);
Tensor slice_backward(const Tensor& dy, const Shape& x_shape, int dim, std::int64_t start,
                      std::int64_t end);

// Joins parts along dim; every other dim must match. dx_p = the part of dy that came from part p.
Tensor concat_forward(const std::vector<Tensor>& parts, int dim);
std::vector<Tensor> concat_backward(const Tensor& dy, const std::vector<Shape>& part_shapes,
                                    int dim);

}  // namespace normlab
