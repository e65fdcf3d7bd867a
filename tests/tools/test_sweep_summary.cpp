// The sweep's tables (tools/sweep_summary.h): the seed aggregation groups by every other axis and
// gives the mean, the sample standard deviation (n − 1), n and the failed runs; the per-run table
// keeps every run; a run directory's metrics_epochs.csv gives final and best error.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>

#include "tests/temp_dir.h"
#include "tools/sweep_summary.h"

using namespace normlab;
using normlab::testing::TempDir;

namespace {

SweepRun fake(std::string norm, std::string batch, std::string seed, std::optional<double> err) {
  SweepRun r;
  r.settings = {
      {"norm", std::move(norm)}, {"batch-size", std::move(batch)}, {"seed", std::move(seed)}};
  r.final_error = err;
  r.best_error = err;
  r.epochs = err ? 3 : 0;
  r.command = "normlab train ...";
  return r;
}

}  // namespace

TEST_CASE("sweep summary: mean, sample std and n over the seed axis", "[sweep]") {
  const std::vector<SweepRun> runs{
      fake("batch", "32", "0", 10.0),         fake("batch", "32", "1", 12.0),
      fake("batch", "32", "2", 14.0),         fake("batch", "2", "0", 80.0),
      fake("batch", "2", "1", std::nullopt),  fake("batch", "2", "2", 70.0),
      fake("group", "32", "0", 20.0),         fake("group", "32", "1", std::nullopt),
      fake("group", "32", "2", std::nullopt), fake("group", "2", "0", std::nullopt),
      fake("group", "2", "1", std::nullopt),  fake("group", "2", "2", std::nullopt)};
  const std::vector<SeedCell> cells = aggregate_over_seeds(runs, "seed");
  REQUIRE(cells.size() == 4);
  // cells in the order they first appear, keyed by every axis but the seed
  REQUIRE(cells[0].settings == GridSettings{{"norm", "batch"}, {"batch-size", "32"}});
  REQUIRE(cells[3].settings == GridSettings{{"norm", "group"}, {"batch-size", "2"}});
  // 10, 12, 14: mean 12, sample variance ((−2)² + 0 + 2²) / 2 = 4
  REQUIRE(cells[0].n() == 3);
  REQUIRE(cells[0].mean == Approx(12.0));
  REQUIRE(cells[0].std == Approx(2.0));
  REQUIRE(cells[0].failed == 0);
  // 80, 70 and a failure: mean 75, sample std sqrt(50)
  REQUIRE(cells[1].n() == 2);
  REQUIRE(cells[1].failed == 1);
  REQUIRE(cells[1].mean == Approx(75.0));
  REQUIRE(cells[1].std == Approx(std::sqrt(50.0)));
  // one run: a mean, no std
  REQUIRE(cells[2].n() == 1);
  REQUIRE(cells[2].mean == Approx(20.0));
  REQUIRE(std::isnan(cells[2].std));
  // nothing finished
  REQUIRE(cells[3].n() == 0);
  REQUIRE(cells[3].failed == 3);
  REQUIRE(std::isnan(cells[3].mean));

  const Table t = seed_table({"norm", "batch-size"}, cells);
  REQUIRE(t.csv ==
          "norm,batch-size,final_test_error_mean,final_test_error_std,n,failed,min,max\n"
          "batch,32,12.000,2.000,3,0,10.000,14.000\n"
          "batch,2,75.000,7.071,2,1,70.000,80.000\n"
          "group,32,20.000,,1,2,20.000,20.000\n"
          "group,2,,,0,3,,\n");
  REQUIRE_THAT(
      t.md, Catch::Matchers::Contains("| batch | 32 | 12.00% ± 2.00 | 3 | 0 | 10.00% | 14.00% |"));
  REQUIRE_THAT(t.md, Catch::Matchers::Contains("| group | 32 | 20.00% (one run) | 1 | 2 |"));
  REQUIRE_THAT(t.md, Catch::Matchers::Contains("| group | 2 | failed | 0 | 3 | - | - |"));
}

TEST_CASE("sweep summary: the per-run table keeps every run", "[sweep]") {
  const std::vector<SweepRun> runs{fake("batch", "8", "0", 14.33),
                                   fake("group", "8", "0", std::nullopt)};
  const Table t = run_table({"norm", "batch-size", "seed"}, runs);
  REQUIRE(t.csv ==
          "norm,batch-size,seed,final_test_error,best_test_error,epochs,command\n"
          "batch,8,0,14.33%,14.33%,3,\"normlab train ...\"\n"
          "group,8,0,failed,failed,0,\"normlab train ...\"\n");
  REQUIRE_THAT(t.md, Catch::Matchers::StartsWith(
                         "| norm | batch-size | seed | final test error | best test error | epochs "
                         "| command |\n|---|---|---|---|---|---|---|\n"));
}

TEST_CASE("sweep summary: a run directory's final and best error", "[sweep]") {
  TempDir tmp("sweep");
  {
    std::ofstream f(tmp / "metrics_epochs.csv");
    f << "epoch,lr,train_loss,train_accuracy,test_loss,test_accuracy,seconds\n"
         "1,0.1,1.0,0.5,0.9,0.80,1.0\n"
         "2,0.1,0.8,0.6,0.7,0.90,1.0\n"
         "3,0.1,0.7,0.7,0.8,0.85,1.0\n";
  }
  const SweepRun r = read_sweep_run(tmp.path(), {{"norm", "batch"}}, "cmd");
  REQUIRE(r.epochs == 3);
  REQUIRE(*r.final_error == Approx(15.0));
  REQUIRE(*r.best_error == Approx(10.0));
  const SweepRun missing = read_sweep_run(tmp / "nothing", {}, "cmd");
  REQUIRE(missing.epochs == 0);
  REQUIRE_FALSE(missing.final_error.has_value());
}
