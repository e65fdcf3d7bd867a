// core/threads.h: the one place that sets how many threads normlab uses.
// normlab has one pool of threads, OpenMP's: kernels split independent work across it (the images
// of a batch in Conv2d, the sets of a norm layer, long elementwise loops), and each thread calls
// single-threaded GEMMs. OpenBLAS's own threads are therefore kept at 1: two pools spinning on two
// cores at once made training several times slower (docs/benchmarks.md). Only tools/ calls
// set_num_threads; tests run with OPENBLAS_NUM_THREADS=1 from the environment.
#pragma once

#include <cstdint>

namespace normlab {

void set_num_threads(int n);  // OpenMP threads (n <= 0: all cores); OpenBLAS stays at 1
int num_threads();

// Below this many elements of work, a loop is not worth splitting across threads.
constexpr std::int64_t kParallelGrain = 32768;

}  // namespace normlab
