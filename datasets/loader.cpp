#include "datasets/loader.h"

#include <fmt/format.h>

#include <limits>
#include <numeric>
#include <utility>

#include "core/error.h"

namespace normlab {

namespace {
constexpr std::size_t kPrefetchDepth = 2;  // batches prepared ahead of the one being consumed
constexpr std::uint64_t kShuffleStream = std::numeric_limits<std::uint64_t>::max();
}  // namespace

DataLoader::DataLoader(Dataset dataset, LoaderOptions options)
    : dataset_(std::move(dataset)), options_(std::move(options)) {
  check_dataset("loader", dataset_);
  if (options_.batch_size < 1) {
    throw ValueError(fmt::format("loader: batch size must be >= 1, got {} ({})",
                                 options_.batch_size, dataset_.name));
  }
  if (options_.augment.crop_padding < 0) {
    throw ValueError(
        fmt::format("loader: crop padding must be >= 0, got {}", options_.augment.crop_padding));
  }
  table_ = normalize_table(options_.normalize, dataset_.channels());
  if (options_.prefetch) {
    thread_ = std::thread([this] { worker(); });
  }
}

DataLoader::~DataLoader() {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  work_cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

std::int64_t DataLoader::batches_per_epoch() const {
  const std::int64_t N = dataset_.size();
  const std::int64_t B = options_.batch_size;
  return options_.drop_last ? N / B : (N + B - 1) / B;
}

std::vector<std::int64_t> DataLoader::epoch_order(std::int64_t epoch) const {
  std::vector<std::int64_t> order(static_cast<std::size_t>(dataset_.size()));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  if (options_.shuffle) {
    // Fisher–Yates: position i swaps with a uniform j ∈ [0, i].
    Rng rng(derive_seed(options_.seed, static_cast<std::uint64_t>(epoch), kShuffleStream));
    for (std::size_t i = order.size(); i > 1; --i) {
      const auto j = static_cast<std::size_t>(rng.randint(static_cast<std::int64_t>(i)));
      std::swap(order[i - 1], order[j]);
    }
  }
  return order;
}

Batch DataLoader::build_batch(const std::vector<std::int64_t>& order, std::int64_t epoch,
                              std::int64_t b) const {
  const std::int64_t B = options_.batch_size;
  const std::int64_t first = b * B;
  const std::int64_t n = std::min(B, dataset_.size() - first);
  const std::int64_t C = dataset_.channels();
  const std::int64_t H = dataset_.height();
  const std::int64_t W = dataset_.width();
  const std::int64_t chw = C * H * W;
  Batch batch;
  batch.images = Tensor::empty({n, C, H, W}, DType::f32);
  batch.labels = Tensor::empty({n}, DType::i64);
  batch.indices.resize(static_cast<std::size_t>(n));
  batch.epoch = epoch;
  batch.index = b;
  const bool augment = options_.augment.crop_padding > 0 || options_.augment.horizontal_flip;
  std::vector<std::uint8_t> scratch(augment ? static_cast<std::size_t>(chw) : 0);
  float* x = batch.images.data_ptr<float>();
  std::int64_t* y = batch.labels.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t position = first + i;
    const std::int64_t k = order[static_cast<std::size_t>(position)];
    const std::uint8_t* src = dataset_.image(k);
    if (augment) {
      Rng rng(derive_seed(options_.seed, static_cast<std::uint64_t>(epoch),
                          static_cast<std::uint64_t>(position)));
      augment_image(src, C, H, W, options_.augment, rng, scratch.data());
      src = scratch.data();
    }
    normalize_image(src, C, H * W, table_, x + i * chw);
    y[i] = dataset_.label(k);
    batch.indices[static_cast<std::size_t>(i)] = k;
  }
  return batch;
}

Batch DataLoader::make_batch(std::int64_t epoch, std::int64_t b) const {
  if (epoch < 0 || b < 0 || b >= batches_per_epoch()) {
    throw ValueError(fmt::format("loader: no batch {} in epoch {} ({} batches per epoch)", b, epoch,
                                 batches_per_epoch()));
  }
  return build_batch(epoch_order(epoch), epoch, b);
}

void DataLoader::start_epoch(std::int64_t epoch, std::int64_t first_batch) {
  if (epoch < 0 || first_batch < 0 || first_batch > batches_per_epoch()) {
    throw ValueError(fmt::format("loader: cannot start epoch {} at batch {} ({} batches per epoch)",
                                 epoch, first_batch, batches_per_epoch()));
  }
  auto order = std::make_shared<const std::vector<std::int64_t>>(epoch_order(epoch));
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    ++generation_;
    started_ = true;
    epoch_ = epoch;
    order_ = std::move(order);
    produce_next_ = first_batch;
    consume_next_ = first_batch;
    ready_.clear();
    error_ = nullptr;
  }
  work_cv_.notify_all();
}

std::optional<Batch> DataLoader::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!started_) {
    throw ValueError(fmt::format("loader: next() before start_epoch() ({})", dataset_.name));
  }
  if (consume_next_ >= batches_per_epoch()) {
    return std::nullopt;
  }
  if (!options_.prefetch) {
    const std::int64_t b = consume_next_++;
    const auto order = order_;
    lock.unlock();
    return build_batch(*order, epoch_, b);
  }
  ready_cv_.wait(lock, [this] { return !ready_.empty() || error_ != nullptr; });
  if (ready_.empty()) {
    // The batch failed to build: report it, and let a retry build it again.
    produce_next_ = consume_next_;
    std::exception_ptr error = std::exchange(error_, nullptr);
    lock.unlock();
    work_cv_.notify_all();
    std::rethrow_exception(error);
  }
  Batch batch = std::move(ready_.front());
  ready_.pop_front();
  ++consume_next_;
  lock.unlock();
  work_cv_.notify_all();
  return batch;
}

void DataLoader::worker() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    work_cv_.wait(lock, [this] {
      return stop_ || (started_ && error_ == nullptr && produce_next_ < batches_per_epoch() &&
                       ready_.size() < kPrefetchDepth);
    });
    if (stop_) {
      return;
    }
    const std::uint64_t generation = generation_;
    const std::int64_t epoch = epoch_;
    const std::int64_t b = produce_next_++;
    const auto order = order_;
    lock.unlock();
    std::optional<Batch> batch;
    std::exception_ptr error;
    try {
      batch = build_batch(*order, epoch, b);
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    if (generation != generation_) {
      continue;  // start_epoch ran meanwhile: this batch belongs to the old epoch
    }
    if (error != nullptr) {
      error_ = error;
    } else {
      ready_.push_back(std::move(*batch));
    }
    ready_cv_.notify_all();
  }
}

}  // namespace normlab
