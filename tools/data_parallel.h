// tools/data_parallel.h: data-parallel training over the ranks of a Communicator
// (`mpirun -np K normlab train ...`, docs/distributed.md). The global batch of the single process
// is cut into K equal contiguous shards, one per rank; each rank runs forward and backward on its
// shard, and the gradients are averaged before the same update on every rank. The loss of a rank
// is the mean over its shard, so the average of the K gradients is the gradient of the mean over
// the global batch: the single process's step, up to the order of float additions.
// Per-worker BatchNorm normalizes each shard by itself (the GN paper's setting); its running
// statistics are averaged across ranks before every evaluation and every checkpoint.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/communicator.h"
#include "datasets/dataset.h"
#include "datasets/loader.h"
#include "layers/module.h"
#include "layers/optim/optimizer.h"
#include "tools/train_step.h"
#include "tools/trainer.h"

namespace normlab {

class DataParallel {
 public:
  // Gradients are averaged in `params`' order (the optimizer's), through one flat buffer kept for
  // the whole run. ValueError when the parameters mix float32 and float64.
  DataParallel(Communicator& comm, std::vector<OptimParam> params);

  int rank() const noexcept { return comm_.rank(); }
  int size() const noexcept { return comm_.size(); }

  // Images per rank of a global batch; ValueError when K does not divide it.
  std::int64_t shard_size(std::int64_t global_batch) const;
  // This rank's part of a global batch: images [rank·b, (rank + 1)·b) with b = n / K.
  Batch shard(const Batch& global) const;

  // One line for the log: what a step sends, e.g. "every step all-reduces 94189 float32 values
  // (0.36 MiB: 94186 gradients and 3 counts) in 1 call".
  std::string describe() const;

  // Every parameter and buffer of model takes rank 0's value.
  void broadcast_from_rank0(Module& model);

  // After the backward of a step on this rank's shard: every gradient ← its mean over the ranks,
  // and r's loss, correct and images become those of the global batch (loss: the mean over it).
  // The counts travel in the same buffer as the gradients, after them. Collective. A non-finite
  // loss on any rank makes the global loss non-finite on every rank, so all skip the update.
  void average_gradients(StepResult& r);

  // Every floating buffer (running statistics) ← its mean over the ranks, computed in double, so
  // buffers that are already equal (SyncBatchNorm's) keep their exact value. Collective.
  void average_buffers(Module& model);

  // evaluate() of this rank's contiguous share of d (ranks hold ⌈n/K⌉ or ⌊n/K⌋ images), then the
  // loss sums and the confusion matrix summed over the ranks. Collective.
  EvalResult evaluate(Module& model, const Dataset& d, const ChannelStats& stats,
                      std::int64_t batch_size);

 private:
  Communicator& comm_;
  std::vector<OptimParam> params_;
  DType dtype_ = DType::f32;
  std::vector<float> flat_f32_;  // Σ numel gradients + loss sum, correct, images
  std::vector<double> flat_f64_;
};

// The largest gradient piece one all_reduce_sum call carries: few large calls per step.
inline constexpr std::size_t kBucketBytes = std::size_t{8} << 20;

}  // namespace normlab
