// tools/bench/bench_conv_gemm.cpp: OpenBLAS's sgemm on one thread (Google Benchmark), at the
// shapes of the GEMMs that ResNet-20's convolutions run in a training step at batch 32 on two
// threads (layers/conv2d.cpp: images side by side up to 1024 columns), next to a square 2048
// sgemm, the shape `normlab bench` takes for the machine's peak. The ratio of each shape's
// GFLOP/s to the square one is the ceiling of "GEMM share of the sgemm peak" for that model as
// long as its convolutions go through im2col and OpenBLAS.
// Built with -DNORMLAB_BUILD_BENCH=ON; results and the command are in docs/benchmarks.md.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <vector>

#include "core/gemm.h"
#include "core/rng.h"
#include "core/threads.h"

namespace normlab {
namespace {

// C (M, N) = op(A) · op(B) with op(A) (M, K) and op(B) (K, N), row-major, as conv2d calls it.
void BM_Sgemm(benchmark::State& state) {
  const std::int64_t M = state.range(0), N = state.range(1), K = state.range(2);
  const bool trans_b = state.range(3) != 0;
  set_num_threads(1);
  Rng rng(3);
  std::vector<float> a(static_cast<std::size_t>(M * K)), b(static_cast<std::size_t>(K * N));
  std::vector<float> c(static_cast<std::size_t>(M * N), 0.0F);
  for (float& v : a) {
    v = static_cast<float>(rng.uniform(-1.0, 1.0));
  }
  for (float& v : b) {
    v = static_cast<float>(rng.uniform(-1.0, 1.0));
  }
  for (auto _ : state) {
    gemm<float>(false, trans_b, M, N, K, 1.0F, a.data(), K, b.data(), trans_b ? K : N, 0.0F,
                c.data(), N);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(M * N * K),
                                                 benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
  state.SetLabel(fmt::format("M={} N={} K={}{}", M, N, K, trans_b ? " B^T" : ""));
}

// {M, N, K, trans_b}: the square peak; per ResNet-20 stage (16, 32, 64 channels on 32x32, 16x16
// and 8x8 maps) the forward y = W·col (Og, K = Cg·9, N = 1024 columns) and the weight gradient
// dW = dY·colᵀ (Og, Cg·9, summed over 1024 columns). The transposed-convolution dx has the
// forward's shape.
BENCHMARK(BM_Sgemm)
    ->Args({2048, 2048, 2048, 0})
    ->Args({16, 1024, 144, 0})
    ->Args({32, 1024, 288, 0})
    ->Args({64, 1024, 576, 0})
    ->Args({16, 144, 1024, 1})
    ->Args({32, 288, 1024, 1})
    ->Args({64, 576, 1024, 1})
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace normlab

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  // OpenBLAS falls back to its generic kernels on processors it does not know; run with
  // OPENBLAS_CORETYPE set then (normlab itself does that on its own, tools/main.cpp).
  benchmark::AddCustomContext("openblas_core", normlab::blas_core_name());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
