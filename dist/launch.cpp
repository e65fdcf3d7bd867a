#include "dist/launch.h"

#include <cstdio>
#include <cstdlib>

#include "core/error.h"

#if NORMLAB_WITH_MPI
#include <mpi.h>

#include "dist/mpi_communicator.h"
#endif

namespace normlab {

namespace {

// The number of ranks the launcher announced, 0 when no launcher is known.
long launcher_size() noexcept {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"}) {
    if (const char* v = std::getenv(name); v != nullptr && *v != '\0') {
      return std::strtol(v, nullptr, 10);
    }
  }
  return std::getenv("PMIX_RANK") != nullptr ? 2 : 0;  // PMIx tells the size only through MPI
}

}  // namespace

bool built_with_mpi() noexcept {
  return NORMLAB_WITH_MPI != 0;
}

bool launched_as_rank() noexcept {
  return launcher_size() > 0;
}

std::unique_ptr<Communicator> join_job() {
#if NORMLAB_WITH_MPI
  if (launched_as_rank()) {
    return std::make_unique<MpiCommunicator>();
  }
#else
  if (launcher_size() > 1) {
    throw ValueError(
        "train: started as one of several ranks, but this normlab was built without MPI "
        "(install libopenmpi-dev and configure again with -DNORMLAB_MPI=ON)");
  }
#endif
  return std::make_unique<SingleProcessCommunicator>();
}

void abort_job(int status) {
  std::fflush(stdout);
  std::fflush(stderr);
#if NORMLAB_WITH_MPI
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized != 0 && finalized == 0) {
    MPI_Abort(MPI_COMM_WORLD, status);
  }
#endif
  std::_Exit(status);
}

}  // namespace normlab
