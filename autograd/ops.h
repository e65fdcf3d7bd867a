// autograd/ops.h: every differentiable op on Variables, one header to include.
// Each op lives in autograd/ops/<group>.cpp with its forward kernel, its hand-written backward and
// the Node that saves exactly what backward reads (STYLE.md 3.5). An op records a node only when
// one of its inputs requires a gradient. Inputs may have any strides; float32 and float64.
// The same forward and backward on plain Tensors (no graph, e.g. for Module::forward_no_grad) are
// declared in autograd/ops/{elementwise,unary,reduce,matmul,shape_ops,softmax}.h as <op>_forward
// and <op>_backward. Errors name the op and every operand's shape (core/error.h).
#pragma once

#include <vector>

#include "autograd/variable.h"

namespace normlab {

// Elementwise binary ops with NumPy broadcasting; the backward sums over broadcast axes.
Variable add(const Variable& a, const Variable& b);
Variable sub(const Variable& a, const Variable& b);
Variable mul(const Variable& a, const Variable& b);
Variable div(const Variable& a, const Variable& b);
Variable add_scalar(const Variable& a, double s);  // a + s
Variable mul_scalar(const Variable& a, double s);  // a · s

// Elementwise unary ops.
Variable neg(const Variable& a);
Variable exp(const Variable& a);
Variable log(const Variable& a);
Variable sqrt(const Variable& a);
Variable pow(const Variable& a, double p);  // a^p for a scalar exponent
Variable abs(const Variable& a);
Variable relu(const Variable& a);
Variable sigmoid(const Variable& a);
Variable tanh(const Variable& a);

// Reductions over chosen dims (negative dims count from the end; an empty list means every dim).
Variable sum(const Variable& a);  // all elements, shape []
Variable sum(const Variable& a, const std::vector<int>& dims, bool keepdim = false);
Variable mean(const Variable& a);
Variable mean(const Variable& a, const std::vector<int>& dims, bool keepdim = false);
// Maximum over one dim; the gradient goes to the first maximal element, as in PyTorch.
Variable max(const Variable& a, int dim, bool keepdim = false);

// Matrix product of 2-D (M, K)·(K, N), or batched 3-D (B, M, K)·(B, K, N). A 2-D operand next to
// a 3-D one is shared by every batch: (B, M, K)·(K, N) and (M, K)·(B, K, N) give (B, M, N).
Variable matmul(const Variable& a, const Variable& b);

// Shape ops. reshape (of a contiguous input), permute and slice return views of the input's data.
// slice: negative start/end count from the end; the range must lie within the dim.
Variable reshape(const Variable& a, const Shape& shape);  // one dim may be -1
Variable permute(const Variable& a, const std::vector<int>& axes);
Variable slice(const Variable& a, int dim, std::int64_t start, std::int64_t end);  // [start, end)
Variable concat(const std::vector<Variable>& parts, int dim);

// log_softmax along dim, computed with the log-sum-exp shift.
Variable log_softmax(const Variable& a, int dim);
// Mean over the batch of −log softmax(logits)[n, labels[n]]. logits: (N, C); labels: (N) int64.
Variable cross_entropy(const Variable& logits, const Tensor& labels);

}  // namespace normlab
