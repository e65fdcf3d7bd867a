// core/tensor_math.h: the few whole-tensor updates that the engine, optimizers and layers share.
// They are not differentiable ops (those live in autograd/ops); they work on any strides.
#pragma once

#include "core/tensor.h"

namespace normlab {

void add_(Tensor& dst, const Tensor& src, double alpha = 1.0);  // dst += alpha·src, same shape
void scale_(Tensor& dst, double alpha);                         // dst *= alpha
double sum_all(const Tensor& t);                                // double accumulator
double dot_all(const Tensor& a, const Tensor& b);               // Σ a⊙b, same shape
// The comparison helpers never hide a non-finite value: std::max(m, NaN) keeps m, so a plain max
// would call an all-NaN output "no difference". Any NaN makes max_abs and max_abs_diff NaN (and
// every `err <= tol` false); an infinity on one side only makes max_abs_diff +inf; equal
// infinities count as equal. allclose is false wherever max_abs_diff would be NaN or +inf.
double max_abs(const Tensor& t);                        // NaN if any element is NaN
double max_abs_diff(const Tensor& a, const Tensor& b);  // same shape; NaN if either has a NaN
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8);

}  // namespace normlab
