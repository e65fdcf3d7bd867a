// tools/output_dir.h: the folders the normlab command writes into (run directories, sweep
// directories, probe and export folders), checked before any work starts, so that a wrong --out
// costs the user one line and exit status 2, not a finished training run.
#pragma once

#include <string>
#include <string_view>

namespace normlab {

// Creates dir and its parents if needed and proves that a file can be created in it (a
// temporary file, removed again). IoError "<command>: ..." naming dir when it is empty, is a file
// (or has a file among its parents), cannot be created, or is not writable.
void prepare_output_dir(std::string_view command, const std::string& dir);

}  // namespace normlab
