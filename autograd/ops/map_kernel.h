// autograd/ops/map_kernel.h: the one loop of every elementwise kernel, y_i = f(x_i) or
// y_i = f(a_i, b_i) over n contiguous values, split across OpenMP's threads when n is long enough
// to pay for them. Each op states its formula as the lambda f; the loop, its threading and its
// vectorization are written once. multiply_elementwise, the product, serves mul's forward and
// backward, exp's backward and dropout's mask.
#pragma once

#include <cstdint>

#include "core/threads.h"

namespace normlab {

// `simd` lets the compiler vectorize whatever f it can (the loop carries no dependence, also when
// y is an input). The threshold applies to the threads only: an `if` without the `parallel :`
// modifier would also switch off `simd`, and a loop shorter than the grain would run scalar.

// y_i = f(x_i); y may be x.
template <class T, class F>
void map_elementwise(const T* x, T* y, std::int64_t n, F f) {
#pragma omp parallel for simd if (parallel : n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) {
    y[i] = f(x[i]);
  }
}

// y_i = f(a_i, b_i); y may be a or b.
template <class T, class F>
void map_elementwise(const T* a, const T* b, T* y, std::int64_t n, F f) {
#pragma omp parallel for simd if (parallel : n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) {
    y[i] = f(a[i], b[i]);
  }
}

// y_i = a_i · b_i
template <class T>
void multiply_elementwise(const T* a, const T* b, T* y, std::int64_t n) {
  map_elementwise(a, b, y, n, [](T u, T v) { return u * v; });
}

}  // namespace normlab
