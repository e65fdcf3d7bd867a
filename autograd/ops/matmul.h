// autograd/ops/matmul.h: Tensor-level matrix product and its backward, on core/gemm.h.
// Shapes: (M, K)·(K, N) → (M, N); (B, M, K)·(B, K, N) → (B, M, N); a 2-D operand next to a 3-D one
// is shared by every batch, (B, M, K)·(K, N) or (M, K)·(B, K, N) → (B, M, N), and its gradient is
// summed over the batch. Operands may have any strides: row-major and transposed matrices go to
// GEMM as they are (with a transpose flag); other layouts are copied to contiguous first.
#pragma once

#include "autograd/ops/elementwise.h"
#include "core/tensor.h"

namespace normlab {

Tensor matmul_forward(const Tensor& a, const Tensor& b);
// dA = dY · Bᵀ,  dB = Aᵀ · dY   (per batch; summed over the batch for a shared 2-D operand)
BinaryGrads matmul_backward(const Tensor& dy, const Tensor& a, const Tensor& b, bool need_da,
                            bool need_db);

}  // namespace normlab
