// Boundary probe, compiled as a file of normlab_core (tests/CMakeLists.txt): the control, a
// library reaches its own headers.
#include "core/tensor.h"
