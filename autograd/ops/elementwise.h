// autograd/ops/elementwise.h: Tensor-level forward and backward of the binary elementwise ops
// (NumPy broadcasting) and the scalar ops. The Variable-level ops are in autograd/ops.h; these are
// for code that computes without a graph (Module::forward_no_grad) or composes a fused backward.
#pragma once

#include "core/tensor.h"

namespace normlab {

// Gradients of a binary op, already summed to each operand's shape; undefined where not requested.
struct BinaryGrads {
  Tensor da;
  Tensor db;
};

// a, b: any strides, same dtype, shapes that broadcast (ShapeError naming the op and both shapes).
Tensor add_forward(const Tensor& a, const Tensor& b);
Tensor sub_forward(const Tensor& a, const Tensor& b);
Tensor mul_forward(const Tensor& a, const Tensor& b);
Tensor div_forward(const Tensor& a, const Tensor& b);

// dy: the broadcast shape of a and b.
BinaryGrads add_backward(const Tensor& dy, const Shape& a_shape, const Shape& b_shape, bool need_da,
                         bool need_db);
BinaryGrads sub_backward(const Tensor& dy, const Shape& a_shape, const Shape& b_shape, bool need_da,
                         bool need_db);
BinaryGrads mul_backward(const Tensor& dy, const Tensor& a, const Tensor& b, bool need_da,
                         bool need_db);
BinaryGrads div_backward(const Tensor& dy, const Tensor& a, const Tensor& b, bool need_da,
                         bool need_db);

Tensor add_scalar_forward(const Tensor& x, double s);  // x + s;  backward: dx = dy
Tensor mul_scalar_forward(const Tensor& x, double s);  // s · x;  backward: dx = s · dy

}  // namespace normlab
