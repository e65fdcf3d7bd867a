// tools/bench_machine.cpp: memory bandwidth and sgemm peak of this machine (tools/bench_machine.h).
#include "tools/bench_machine.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "core/gemm.h"
#include "core/threads.h"

namespace normlab {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Elements per array: four times the last-level cache (so no pass is served from it), at least
// 32 Mi doubles (256 MiB) when the cache size is not reported.
std::int64_t stream_elements() {
  const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
  const std::int64_t bytes = std::max<std::int64_t>(4 * static_cast<std::int64_t>(l3), 256 << 20);
  return std::min<std::int64_t>(bytes, std::int64_t{1} << 30) /
         static_cast<std::int64_t>(sizeof(double));
}

// Best GB/s of `repeats` passes of `pass`, which moves bytes_per_pass bytes.
template <class Pass>
double best_gbps(int repeats, double bytes_per_pass, Pass pass) {
  double best = 0.0;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    pass();
    best = std::max(best, bytes_per_pass / seconds_since(t0) / 1e9);
  }
  return best;
}

}  // namespace

MachineLimits measure_machine(int repeats) {
  MachineLimits out;
  out.threads = num_threads();
  const std::int64_t n = stream_elements();
  std::vector<double> a(static_cast<std::size_t>(n)), b(a.size()), c(a.size());
  double* pa = a.data();
  const double* pb = b.data();
  const double* pc = c.data();
  // First touch on the threads that will use each page, in the same static split as the passes.
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i) {
    a[static_cast<std::size_t>(i)] = 1.0;
    b[static_cast<std::size_t>(i)] = 2.0;
    c[static_cast<std::size_t>(i)] = 0.5;
  }
  const double dn = static_cast<double>(n);
  out.copy_gbps = best_gbps(repeats, 16.0 * dn, [&] {
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < n; ++i) {
      pa[i] = pb[i];
    }
  });
  const double s = 3.0;
  out.triad_gbps = best_gbps(repeats, 24.0 * dn, [&] {
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < n; ++i) {
      pa[i] = pb[i] + s * pc[i];
    }
  });

  constexpr std::int64_t kSize = 2048;
  const int T = out.threads;
  std::vector<std::vector<float>> A(static_cast<std::size_t>(T)), B(A.size()), C(A.size());
  double best = 0.0;
  for (int r = 0; r < std::max(2, repeats / 2); ++r) {
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(T)
    {
      const auto t = static_cast<std::size_t>(omp_get_thread_num());
      if (A[t].empty()) {
        A[t].assign(kSize * kSize, 0.5F);
        B[t].assign(kSize * kSize, 0.25F);
        C[t].assign(kSize * kSize, 0.0F);
      }
      gemm<float>(false, false, kSize, kSize, kSize, 1.0F, A[t].data(), kSize, B[t].data(), kSize,
                  0.0F, C[t].data(), kSize);
    }
    const double flops = 2.0 * kSize * kSize * kSize * T;
    if (r > 0) {  // the first pass allocates and warms up
      best = std::max(best, flops / seconds_since(t0) / 1e9);
    }
  }
  out.sgemm_gflops = best;
  return out;
}

}  // namespace normlab
