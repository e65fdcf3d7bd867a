// Boundary probe, compiled as a file of normlab_layers (tests/CMakeLists.txt): only tools links
// dist (MPI), so SyncBatchNorm sees core's Communicator and this include must not compile.
#include "dist/launch.h"
