// autograd/ops/product_kernel.h: the elementwise product y_i = a_i · b_i over n contiguous values.
// One loop serves mul's forward (y = a·b), mul's backward (da = dy·b, db = dy·a) and exp's backward
// (dx = dy·y).
#pragma once

#include <cstdint>

#include "core/threads.h"

namespace normlab {

template <class T>
void multiply_elementwise(const T* a, const T* b, T* y, std::int64_t n) {
#pragma omp parallel for if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) {
    y[i] = a[i] * b[i];
  }
}

}  // namespace normlab
