// core/threads.h: the one place that sets how many threads normlab uses.
// normlab has one pool of threads, OpenMP's: kernels split independent work across it (the images
// of a batch in Conv2d, the sets of a norm layer, long elementwise loops), and each thread calls
// single-threaded GEMMs. OpenBLAS's own threads are therefore kept at 1: two pools spinning on two
// cores at once made training several times slower (docs/benchmarks.md). Only tools/ calls
// set_num_threads; tests run with OPENBLAS_NUM_THREADS=1 from the environment.
#pragma once

#include <cstdint>
#include <string>

namespace normlab {

void set_num_threads(int n);  // OpenMP threads (n <= 0: all cores); OpenBLAS stays at 1
int num_threads();

// The name of the kernels OpenBLAS chose for this processor: "SkylakeX", "Haswell", "Prescott".
std::string blas_core_name();

// OpenBLAS 0.3.21 (Debian 12) falls back to its SSE3 "Prescott" kernels on processors it does not
// know (e.g. Intel family 6 model 207), which makes sgemm about six times slower there. When that
// happened although the processor has AVX-512 (or AVX2 + FMA), the OPENBLAS_CORETYPE that matches
// its features ("SkylakeX" or "Haswell"); otherwise empty. OpenBLAS reads that variable once, when
// it is loaded, so only a new process can use it (tools/main.cpp executes itself again).
std::string better_blas_core();

// Below this many elements of work, a loop is not worth splitting across threads.
constexpr std::int64_t kParallelGrain = 32768;

}  // namespace normlab
