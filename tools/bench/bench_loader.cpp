// tools/bench/bench_loader.cpp: DataLoader throughput in images per second (Google Benchmark),
// on a synthetic CIFAR-10-sized training split (50,000 × 3 × 32 × 32 uint8) and a synthetic
// Fashion-MNIST-sized one (60,000 × 1 × 28 × 28), with and without augmentation and the
// background thread; plus the time to read the real Fashion-MNIST files when installed.
// Built with -DNORMLAB_BUILD_BENCH=ON; results and the command are in docs/benchmarks.md.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <filesystem>

#include "core/rng.h"
#include "datasets/idx.h"
#include "datasets/loader.h"

namespace normlab {
namespace {

Dataset synthetic(std::int64_t n, std::int64_t C, std::int64_t H, std::int64_t W) {
  Dataset d = make_dataset("synthetic", n, C, H, W, std::vector<std::string>(10, "class"));
  Rng rng(1);
  for (auto& v : d.images.data<std::uint8_t>()) {
    v = static_cast<std::uint8_t>(rng.next_u64());
  }
  for (auto& y : d.labels.data<std::int64_t>()) {
    y = rng.randint(10);
  }
  return d;
}

// args: {channels (3: CIFAR-sized, 1: Fashion-MNIST-sized), augment, prefetch}
void BM_LoaderBatches(benchmark::State& state) {
  const bool cifar = state.range(0) == 3;
  const Dataset data = cifar ? synthetic(50000, 3, 32, 32) : synthetic(60000, 1, 28, 28);
  LoaderOptions opt;
  opt.batch_size = 128;
  opt.seed = 7;
  opt.prefetch = state.range(2) != 0;
  if (state.range(1) != 0) {
    opt.augment = {.crop_padding = 4, .horizontal_flip = true};
  }
  opt.normalize = channel_stats(data);
  DataLoader loader(data, opt);
  std::int64_t epoch = 0;
  std::int64_t images = 0;
  loader.start_epoch(epoch);
  for (auto _ : state) {
    std::optional<Batch> b = loader.next();
    if (!b) {
      loader.start_epoch(++epoch);
      b = loader.next();
    }
    images += b->images.dim(0);
    benchmark::DoNotOptimize(b->images.data_ptr<float>());
  }
  state.SetItemsProcessed(images);
  state.SetLabel(fmt::format("{} aug={} prefetch={}", cifar ? "cifar-sized" : "fmnist-sized",
                             state.range(1), state.range(2)));
}
BENCHMARK(BM_LoaderBatches)
    ->ArgsProduct({{3, 1}, {0, 1}, {0, 1}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

void BM_ReadFashionMnist(benchmark::State& state) {
  std::error_code ec;
  if (!std::filesystem::is_directory(kFashionMnistDir, ec)) {
    state.SkipWithError("dataset-fashion-mnist is not installed");
    return;
  }
  for (auto _ : state) {
    const DatasetSplits s = load_fashion_mnist();
    benchmark::DoNotOptimize(s.train.images.data_ptr<std::uint8_t>());
  }
  state.SetItemsProcessed(state.iterations() * 70000);
}
BENCHMARK(BM_ReadFashionMnist)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace normlab

BENCHMARK_MAIN();
