// Boundary probe, compiled as a file of normlab_datasets (tests/CMakeLists.txt): datasets depends
// on core only, so this include must not compile.
#include "autograd/variable.h"
