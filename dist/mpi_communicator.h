// dist/mpi_communicator.h: the Communicator over MPI's world communicator (Open MPI from Debian's
// libopenmpi-dev). Compiled only when CMake finds MPI. Every call is a blocking collective on
// MPI_COMM_WORLD; errors keep MPI's default handler, MPI_ERRORS_ARE_FATAL, so a failed
// collective (a rank that died) ends the whole job instead of returning to a half-done step.
#pragma once

#include "core/communicator.h"

namespace normlab {

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator();            // MPI_Init_thread (FUNNELED: only the main thread calls MPI)
  ~MpiCommunicator() override;  // MPI_Finalize

  int rank() const noexcept override { return rank_; }
  int size() const noexcept override { return size_; }
  void all_reduce_sum(std::span<float> data) override;
  void all_reduce_sum(std::span<double> data) override;
  void all_gather(std::span<const double> in, std::span<double> out) override;
  void broadcast(std::span<std::byte> data, int root) override;
  void barrier() override;

 private:
  int rank_ = 0, size_ = 1;
  bool initialized_here_ = false;
};

}  // namespace normlab
