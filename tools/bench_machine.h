// tools/bench_machine.h: the machine's own limits, measured, so that every benchmark figure can
// stand next to the physical bound that limits it (docs/benchmarks.md).
//   bandwidth  STREAM-style copy (a[i] = b[i]) and triad (a[i] = b[i] + s·c[i]) in double on every
//              thread, arrays far larger than the last-level cache; bytes counted as STREAM does
//              (copy 16, triad 24 bytes per element), best of `repeats` passes
//   sgemm      OpenBLAS sgemm of square 2048 matrices, one single-threaded call per thread at once
//              (the way normlab's kernels use it), summed over the threads
#pragma once

#include <cstdint>

namespace normlab {

struct MachineLimits {
  int threads = 1;
  double copy_gbps = 0.0;  // GB/s = 1e9 bytes per second
  double triad_gbps = 0.0;
  double sgemm_gflops = 0.0;  // 1e9 floating-point operations per second, all threads
};

// Runs on the current OpenMP pool (set_num_threads first). Takes a few seconds.
MachineLimits measure_machine(int repeats = 5);

}  // namespace normlab
