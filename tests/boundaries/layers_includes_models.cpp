// Boundary probe, compiled as a file of normlab_layers (tests/CMakeLists.txt): layers sits below
// models, so this include must not compile.
#include "models/model.h"
