#include "dist/mpi_communicator.h"

#include <fmt/format.h>
#include <mpi.h>

#include <algorithm>
#include <climits>

#include "core/error.h"

namespace normlab {

namespace {

// MPI counts are int: a longer span goes in consecutive calls of at most INT_MAX elements.
template <class T, class F>
void in_chunks(std::span<T> data, F&& call) {
  constexpr std::size_t kMax = INT_MAX;
  for (std::size_t i = 0; i < data.size(); i += kMax) {
    const std::size_t n = std::min(kMax, data.size() - i);
    call(data.data() + i, static_cast<int>(n));
  }
}

}  // namespace

MpiCommunicator::MpiCommunicator() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized == 0) {
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    initialized_here_ = true;
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (initialized_here_ && finalized == 0) {
    MPI_Finalize();
  }
}

void MpiCommunicator::all_reduce_sum(std::span<float> data) {
  in_chunks(data, [](float* p, int n) {
    MPI_Allreduce(MPI_IN_PLACE, p, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  });
}

void MpiCommunicator::all_reduce_sum(std::span<double> data) {
  in_chunks(data, [](double* p, int n) {
    MPI_Allreduce(MPI_IN_PLACE, p, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  });
}

void MpiCommunicator::all_gather(std::span<const double> in, std::span<double> out) {
  if (out.size() != in.size() * static_cast<std::size_t>(size_) || in.size() > INT_MAX) {
    throw ShapeError(fmt::format("all_gather: {} values out for {} in on {} ranks", out.size(),
                                 in.size(), size_));
  }
  const int n = static_cast<int>(in.size());
  MPI_Allgather(in.data(), n, MPI_DOUBLE, out.data(), n, MPI_DOUBLE, MPI_COMM_WORLD);
}

void MpiCommunicator::broadcast(std::span<std::byte> data, int root) {
  in_chunks(data, [root](std::byte* p, int n) { MPI_Bcast(p, n, MPI_BYTE, root, MPI_COMM_WORLD); });
}

void MpiCommunicator::barrier() {
  MPI_Barrier(MPI_COMM_WORLD);
}

}  // namespace normlab
