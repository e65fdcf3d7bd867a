// autograd/ops/unary.h: Tensor-level forward and backward of the elementwise unary ops and the
// activations. x, y, dy: any strides (made contiguous at this boundary), float32 or float64.
// Each backward reads what its formula needs: the input x or the saved output y.
#pragma once

#include "core/tensor.h"

namespace normlab {

Tensor neg_forward(const Tensor& x);                               // y = −x
Tensor neg_backward(const Tensor& dy);                             // dx = −dy
Tensor exp_forward(const Tensor& x);                               // y = eˣ
Tensor exp_backward(const Tensor& dy, const Tensor& y);            // dx = dy · y
Tensor log_forward(const Tensor& x);                               // y = ln x
Tensor log_backward(const Tensor& dy, const Tensor& x);            // dx = dy / x
Tensor sqrt_forward(const Tensor& x);                              // y = √x
Tensor sqrt_backward(const Tensor& dy, const Tensor& y);           // dx = dy / (2y)
Tensor pow_forward(const Tensor& x, double p);                     // y = xᵖ
Tensor pow_backward(const Tensor& dy, const Tensor& x, double p);  // dx = dy · p · xᵖ⁻¹
Tensor abs_forward(const Tensor& x);                               // y = |x|
Tensor abs_backward(const Tensor& dy, const Tensor& x);  // dx = dy · sign(x), sign(0) = 0

Tensor relu_forward(const Tensor& x);                        // y = max(x, 0)
Tensor relu_backward(const Tensor& dy, const Tensor& y);     // dx = dy · [y > 0]
Tensor sigmoid_forward(const Tensor& x);                     // y = 1 / (1 + e⁻ˣ)
Tensor sigmoid_backward(const Tensor& dy, const Tensor& y);  // dx = dy · y · (1 − y)
Tensor tanh_forward(const Tensor& x);                        // y = tanh x
Tensor tanh_backward(const Tensor& dy, const Tensor& y);     // dx = dy · (1 − y²)

}  // namespace normlab
