// tools/sweep_spec.h: <sweep>/sweep.json, what defines the runs of a `normlab sweep`: the grid,
// the flags after -- and the threads per run. A rerun of the sweep into the same directory must
// describe the same runs, and `normlab sweep --resume DIR` reads them back from it.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace normlab {

struct SweepSpec {
  std::vector<std::pair<std::string, std::vector<std::string>>> grid;  // (flag, values), in order
  std::vector<std::string> train_args;                                 // the flags after --
  int threads = 1;                                                     // per run

  bool operator==(const SweepSpec&) const = default;
};

// Writes dir/sweep.json when it is missing (also for a sweep directory from before sweep.json
// existed); otherwise a ValueError naming the part that differs, with the saved and the new value.
void check_or_save_sweep_spec(const std::filesystem::path& dir, const SweepSpec& spec);

// The spec saved in dir: IoError when there is none, ValueError when it is malformed.
SweepSpec read_sweep_spec(const std::filesystem::path& dir);

}  // namespace normlab
