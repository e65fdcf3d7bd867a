// dist/launch.h: how a normlab process joins its job. docs/distributed.md.
#pragma once

#include <memory>

#include "core/communicator.h"

namespace normlab {

// True when this normlab was built with MPI (the CMake option NORMLAB_MPI found it).
bool built_with_mpi() noexcept;

// True when a process launcher started this process as one rank of a job: Open MPI's mpirun
// (OMPI_COMM_WORLD_SIZE), or a PMI/PMIx launcher such as srun (PMI_SIZE, PMIX_RANK).
bool launched_as_rank() noexcept;

// The communicator of this process: MPI's world (initialized here, finalized when the returned
// object is destroyed) when launched as a rank, the single-process one otherwise. ValueError when
// launched as a rank of several by a normlab built without MPI: each process would train alone and
// all would write the same run directory.
std::unique_ptr<Communicator> join_job();

// Ends every process of the job with `status` (MPI_Abort), after flushing stdout and stderr. The
// caller prints its message first. Outside a job it ends this process.
[[noreturn]] void abort_job(int status);

}  // namespace normlab
