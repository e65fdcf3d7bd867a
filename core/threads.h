// core/threads.h: the one place that sets how many threads normlab uses (OpenBLAS and OpenMP).
// Only tools/ calls set_num_threads; tests run with OPENBLAS_NUM_THREADS=1 from the environment.
#pragma once

#include <cstdint>

namespace normlab {

void set_num_threads(int n);  // n <= 0: all cores
int num_threads();

// Below this many elements of work, a loop is not worth splitting across threads.
constexpr std::int64_t kParallelGrain = 32768;

}  // namespace normlab
