// tools/sweep_summary.h: the tables `normlab sweep` writes into its directory.
//   summary.csv, summary.md              one row per run: its grid values, final and best test
//                                        error, epochs, and the command that reproduces it
//   summary_seeds.csv, summary_seeds.md  with a seed axis: one row per cell of the other axes,
//                                        the final test error's mean ± sample std over the seeds
//                                        (n − 1 in the denominator), n, min, max and failed runs
// Errors are in percent. A run that failed (or has no epoch) counts in `failed`, not in n.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace normlab {

using GridSettings = std::vector<std::pair<std::string, std::string>>;  // (axis flag, value)

struct SweepRun {
  GridSettings settings;              // one per axis, in axis order
  std::optional<double> final_error;  // % after the last epoch; nullopt: failed
  std::optional<double> best_error;   // % of the best epoch
  std::int64_t epochs = 0;            // epochs in metrics_epochs.csv
  std::string command;                // normlab train ...
};

// The results a run directory holds (its metrics_epochs.csv).
SweepRun read_sweep_run(const std::filesystem::path& dir, GridSettings settings,
                        std::string command);

struct SeedCell {
  GridSettings settings;       // every axis but the seed axis
  std::vector<double> errors;  // final test errors (%) of the cell's finished runs, in grid order
  std::int64_t failed = 0;
  double mean = 0.0;  // of errors; NaN when there is none
  double std = 0.0;   // sample standard deviation; NaN when there are fewer than two
  std::int64_t n() const noexcept { return static_cast<std::int64_t>(errors.size()); }
};

// Groups runs by every setting except seed_axis, in the order cells first appear.
std::vector<SeedCell> aggregate_over_seeds(const std::vector<SweepRun>& runs,
                                           std::string_view seed_axis);

struct Table {
  std::string csv;
  std::string md;
};

// axes: the grid's flags, in order (the columns before the results).
Table run_table(const std::vector<std::string>& axes, const std::vector<SweepRun>& runs);
// axes: the flags of the cells (without the seed axis).
Table seed_table(const std::vector<std::string>& axes, const std::vector<SeedCell>& cells);

}  // namespace normlab
