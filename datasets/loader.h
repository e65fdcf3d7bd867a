// datasets/loader.h: batches of a Dataset as float32 (N, C, H, W) images and int64 (N) labels,
// shuffled per epoch, augmented and normalized, prepared on a background thread while the caller
// runs its step. Every batch is a pure function of (seed, epoch, batch index): the order is a
// Fisher–Yates shuffle seeded by derive_seed(seed, epoch, ·) and image i of the epoch draws its
// augmentation from its own Rng(derive_seed(seed, epoch, i)). So the batches do not depend on
// thread timing, and a run resumed at epoch e, batch b sees exactly what it would have seen.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "core/tensor.h"
#include "datasets/dataset.h"
#include "datasets/transforms.h"

namespace normlab {

struct LoaderOptions {
  std::int64_t batch_size = 128;
  bool shuffle = true;     // a new seeded permutation each epoch; false: dataset order
  bool drop_last = false;  // drop the last, smaller batch
  std::uint64_t seed = 0;
  AugmentOptions augment{};  // off by default (use it for the training split only)
  ChannelStats normalize{};  // x̂ = (x/255 − μ_c)/σ_c; empty: x/255
  bool prefetch = true;      // prepare the next batches on a background thread
};

struct Batch {
  Tensor images;                      // f32 (n, C, H, W)
  Tensor labels;                      // i64 (n)
  std::vector<std::int64_t> indices;  // (n) the dataset images in this batch
  std::int64_t epoch = 0;
  std::int64_t index = 0;  // batch number within the epoch
};

class DataLoader {
 public:
  // Shares the dataset's storage (Tensors are handles) and never writes to it. ValueError for a
  // batch size < 1, a negative crop padding, or statistics that do not fit the channels.
  DataLoader(Dataset dataset, LoaderOptions options);
  ~DataLoader();  // stops and joins the background thread, also mid-epoch
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  const Dataset& dataset() const { return dataset_; }
  const LoaderOptions& options() const { return options_; }
  std::int64_t batches_per_epoch() const;

  // Begins epoch `epoch` at batch `first_batch` (0 ≤ first_batch ≤ batches_per_epoch()), dropping
  // whatever was prepared before.
  void start_epoch(std::int64_t epoch, std::int64_t first_batch = 0);
  // The next batch of the current epoch, std::nullopt at its end.
  //   loader.start_epoch(e);  while (auto batch = loader.next()) { step(*batch); }
  std::optional<Batch> next();

  // Batch b of epoch e computed on the calling thread: exactly what next() yields for it.
  Batch make_batch(std::int64_t epoch, std::int64_t b) const;
  // The dataset indices in the order epoch e visits them.
  std::vector<std::int64_t> epoch_order(std::int64_t epoch) const;

 private:
  Batch build_batch(const std::vector<std::int64_t>& order, std::int64_t epoch,
                    std::int64_t b) const;
  void worker();

  Dataset dataset_;
  LoaderOptions options_;
  std::vector<float> table_;  // (C, 256) normalization lookup

  // Shared with the worker thread, guarded by mutex_.
  std::mutex mutex_;
  std::condition_variable work_cv_;   // worker waits: room in ready_ or stop
  std::condition_variable ready_cv_;  // next() waits: a batch in ready_ or an error
  bool stop_ = false;
  bool started_ = false;
  std::uint64_t generation_ = 0;  // bumped by start_epoch; the worker drops stale batches
  std::int64_t epoch_ = 0;
  std::shared_ptr<const std::vector<std::int64_t>> order_;
  std::int64_t produce_next_ = 0;
  std::int64_t consume_next_ = 0;
  std::deque<Batch> ready_;
  std::exception_ptr error_;
  std::thread thread_;  // last: started after everything above exists
};

}  // namespace normlab
