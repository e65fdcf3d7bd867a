// Boundary probe, compiled as a file of normlab_core (tests/CMakeLists.txt): core sits below
// layers, so this include must not compile.
#include "layers/module.h"
