// core/communicator.h: what data-parallel training needs from the processes of a job, and the
// single-process case. A Communicator is created by tools/ (one per process) and passed down to
// what needs it: the trainer's gradient averaging (tools/data_parallel.h) and SyncBatchNorm
// (layers/norm/sync_batch_norm.h). core/ knows no transport; the MPI implementation lives in
// dist/ (normlab_dist), which only tools/ links. docs/distributed.md.
#pragma once

#include <cstddef>
#include <span>

namespace normlab {

// Every collective must be called by every rank, in the same order, with the same sizes; a rank
// that skips one makes the others wait. Results are identical on every rank.
class Communicator {
 public:
  virtual ~Communicator() = default;
  Communicator() = default;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  virtual int rank() const noexcept = 0;  // 0 … size − 1
  virtual int size() const noexcept = 0;  // processes in the job

  // data ← Σ over ranks of data, element by element, in place.
  virtual void all_reduce_sum(std::span<float> data) = 0;
  virtual void all_reduce_sum(std::span<double> data) = 0;
  // out = the `in` of rank 0, then of rank 1, …: out.size() = size()·in.size().
  virtual void all_gather(std::span<const double> in, std::span<double> out) = 0;
  // data ← data of rank `root`.
  virtual void broadcast(std::span<std::byte> data, int root) = 0;
  virtual void barrier() = 0;
};

// One process: every collective is the identity (all_gather copies).
class SingleProcessCommunicator final : public Communicator {
 public:
  int rank() const noexcept override { return 0; }
  int size() const noexcept override { return 1; }
  void all_reduce_sum(std::span<float> /*data*/) override {}
  void all_reduce_sum(std::span<double> /*data*/) override {}
  void all_gather(std::span<const double> in, std::span<double> out) override;
  void broadcast(std::span<std::byte> /*data*/, int /*root*/) override {}
  void barrier() override {}
};

}  // namespace normlab
