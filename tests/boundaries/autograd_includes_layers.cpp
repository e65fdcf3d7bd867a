// Boundary probe, compiled as a file of normlab_autograd (tests/CMakeLists.txt): autograd sits
// below layers, so this include must not compile.
#include "layers/module.h"
