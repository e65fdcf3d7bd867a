// Compiles the precompiled catch.hpp that every normlab test executable reuses.
#include <catch2/catch.hpp>
