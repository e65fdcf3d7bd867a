// core/random.h: tensors filled from an explicit Rng.
#pragma once

#include "core/rng.h"
#include "core/tensor.h"

namespace normlab {

Tensor randn(Shape shape, DType dtype, Rng& rng, double mean = 0.0, double std = 1.0);
Tensor rand_uniform(Shape shape, DType dtype, Rng& rng, double lo = 0.0, double hi = 1.0);
void fill_normal_(Tensor& t, Rng& rng, double mean = 0.0, double std = 1.0);  // any strides
void fill_uniform_(Tensor& t, Rng& rng, double lo, double hi);

}  // namespace normlab
