// autograd/ops/reduce.h: Tensor-level sum, mean and max over chosen dims, with their backwards.
// dims: negative dims count from the end; an empty list reduces every dim (as torch.sum(x, [])).
// Out-of-range or repeated dims are a ShapeError naming the op and x's shape.
#pragma once

#include <vector>

#include "core/tensor.h"

namespace normlab {

// y = Σ over dims (double accumulator); dx = dy broadcast back over the reduced dims.
Tensor sum_forward(const Tensor& x, const std::vector<int>& dims, bool keepdim);
Tensor sum_backward(const Tensor& dy, const Shape& x_shape, const std::vector<int>& dims,
                    bool keepdim);

// y = (1/m) Σ over dims, m = number of reduced elements (ValueError when m = 0); dx = dy/m.
Tensor mean_forward(const Tensor& x, const std::vector<int>& dims, bool keepdim);
Tensor mean_backward(const Tensor& dy, const Shape& x_shape, const std::vector<int>& dims,
                     bool keepdim);

// Maximum over one dim and the index (int64) of the first maximal element; NaN counts as maximal.
struct MaxResult {
  Tensor values;
  Tensor indices;
};
MaxResult max_forward(const Tensor& x, int dim, bool keepdim);
// dx = dy routed to the saved index along dim, 0 elsewhere.
Tensor max_backward(const Tensor& dy, const Tensor& indices, const Shape& x_shape, int dim,
                    bool keepdim);

}  // namespace normlab
