// Boundary probe, compiled as a file of normlab_models (tests/CMakeLists.txt): models sits below
// tools, so this include must not compile.
#include "tools/trainer.h"
