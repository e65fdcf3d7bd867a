// Boundary probe, compiled as a file of normlab_layers (tests/CMakeLists.txt): the control, a
// library reaches the headers of the libraries below it.
#include "core/tensor.h"
