// tools/run_recorder.h: the CSV files of a run directory (tools/trainer.h lists them), written
// row by row as training goes. Steps and epochs are counted as done in metrics_*.csv (1-based:
// the row after step 0 says step 1) and as the index of the step that measured them in
// *_stats.csv (0-based). A resumed run keeps the rows up to its checkpoint and rewrites the rest.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include "tools/csv.h"
#include "tools/landscape.h"
#include "tools/norm_monitor.h"
#include "tools/train_step.h"

namespace normlab {

struct EpochRecord {
  std::int64_t epoch = 0;
  double lr = 0, train_loss = 0, train_accuracy = 0, test_loss = 0, test_accuracy = 0;
  double seconds = 0;
};

class RunRecorder {
 public:
  // resumed_step < 0 starts every file afresh; otherwise the run resumes at step resumed_step
  // (steps done so far) and epoch resumed_epoch (epochs done so far).
  // landscape: also write landscape.csv (tools/landscape.h).
  RunRecorder(const std::filesystem::path& run, std::int64_t log_every, std::int64_t resumed_step,
              std::int64_t resumed_epoch, bool landscape = false);

  // Starts the images/s window afresh, so an epoch's first row does not count the evaluation.
  void start_epoch();
  // After step `step` (0-based) of epoch `epoch` (0-based): a metrics_steps.csv row every
  // log_every steps, with the epoch's running averages and the images/s since the last row.
  void step_done(std::int64_t step, std::int64_t epoch, double lr, const EpochTally& tally,
                 std::int64_t images);
  void norm_stats(std::int64_t step, const std::vector<NormLayerStats>& layers);
  void param_stats(std::int64_t step, const std::vector<ParamStats>& params);
  void epoch_done(const EpochRecord& r);
  void landscape(std::int64_t step, const LandscapeMeasure& m);

 private:
  std::int64_t log_every_;
  CsvWriter steps_, epochs_, norm_stats_, param_stats_;
  std::optional<CsvWriter> landscape_;
  std::chrono::steady_clock::time_point window_start_;
  std::int64_t window_images_ = 0;
};

}  // namespace normlab
