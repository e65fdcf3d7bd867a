// The run's CSV files: a row every log_every steps with step and epoch counted as done, statistics
// rows under the step that measured them, and a resume that keeps exactly the rows before it.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/temp_dir.h"
#include "tools/run_recorder.h"

using namespace normlab;
using normlab::testing::TempDir;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> lines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    out.push_back(line);
  }
  return out;
}

// The first n comma-separated columns of a row.
std::string columns(const std::string& row, int n) {
  std::size_t end = 0;
  for (int i = 0; i < n; ++i) {
    end = row.find(',', i == 0 ? 0 : end + 1);
    if (end == std::string::npos) {
      return row;
    }
  }
  return row.substr(0, end);
}

// Steps 0..n-1 of one epoch, each with 4 images, loss 1 and 2 correct.
void run_steps(RunRecorder& r, std::int64_t from, std::int64_t n) {
  EpochTally tally;
  for (std::int64_t step = from; step < from + n; ++step) {
    tally.add({.loss = 1.0, .correct = 2, .images = 4});
    r.param_stats(step, {{.name = "w", .weight_norm = 2, .grad_norm = 0.5, .update_ratio = 0.01}});
    r.step_done(step, 0, 0.1, tally, 4);
  }
}

}  // namespace

TEST_CASE("RunRecorder writes a steps row every log_every steps", "[run_recorder]") {
  TempDir tmp("recorder");
  {
    RunRecorder r(tmp.path(), 2, -1, -1);
    run_steps(r, 0, 5);
  }
  const auto rows = lines(tmp / "metrics_steps.csv");
  REQUIRE(rows.size() == 3);
  REQUIRE(rows[0] == "step,epoch,lr,loss,accuracy,images_per_s");
  REQUIRE(columns(rows[1], 5) == "2,1,0.1,1,0.5");
  REQUIRE(columns(rows[2], 5) == "4,1,0.1,1,0.5");
  const auto params = lines(tmp / "param_stats.csv");
  REQUIRE(params.size() == 6);
  REQUIRE(params[1] == "0,w,2,0.5,0.01");
  REQUIRE(params[5] == "4,w,2,0.5,0.01");
}

TEST_CASE("RunRecorder writes norm statistics and epochs", "[run_recorder]") {
  TempDir tmp("recorder");
  {
    RunRecorder r(tmp.path(), 1, -1, -1);
    r.norm_stats(3, {{.layer = "features.1",
                      .type = "BatchNorm",
                      .in_mean = 0.5,
                      .in_std = 1,
                      .out_mean = 0,
                      .out_std = 1,
                      .grad_in_norm = 0.25,
                      .grad_out_norm = 0.125,
                      .bn_mean_gap = 0.1,
                      .bn_var_ratio = 1.5}});
    r.epoch_done({.epoch = 1,
                  .lr = 0.1,
                  .train_loss = 0.5,
                  .train_accuracy = 0.75,
                  .test_loss = 0.625,
                  .test_accuracy = 0.5,
                  .seconds = 1.5});
  }
  REQUIRE(lines(tmp / "norm_stats.csv")[1] ==
          "3,features.1,BatchNorm,0.5,1,0,1,0.25,0.125,0.1,1.5");
  REQUIRE(lines(tmp / "metrics_epochs.csv")[1] == "1,0.1,0.5,0.75,0.625,0.5,1.50");
}

TEST_CASE("RunRecorder resumed at a step keeps the rows before it and no later ones",
          "[run_recorder][resume]") {
  TempDir tmp("recorder");
  {
    RunRecorder r(tmp.path(), 1, -1, -1);
    run_steps(r, 0, 6);
    r.epoch_done({.epoch = 1});
    r.epoch_done({.epoch = 2});
  }
  {
    // resumed after 3 steps and 1 epoch: steps 1..3 and the statistics of steps 0..2 stay
    RunRecorder r(tmp.path(), 1, 3, 1);
  }
  const auto steps = lines(tmp / "metrics_steps.csv");
  REQUIRE(steps.size() == 4);
  REQUIRE(columns(steps.back(), 1) == "3");
  const auto params = lines(tmp / "param_stats.csv");
  REQUIRE(params.size() == 4);
  REQUIRE(columns(params.back(), 1) == "2");
  REQUIRE(lines(tmp / "metrics_epochs.csv").size() == 2);
}
