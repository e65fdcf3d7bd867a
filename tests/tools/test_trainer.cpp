// The training driver: a resumed run ends with the same weights as an uninterrupted one, the run
// directory holds what it promises, and the config survives its JSON round trip.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/safetensors.h"
#include "core/tensor_math.h"
#include "tests/temp_dir.h"
#include "tests/tools/train_test_helpers.h"
#include "tools/train_config.h"
#include "tools/trainer.h"

using namespace normlab;
using normlab::testing::TempDir;
namespace fs = std::filesystem;

namespace {

// Two classes of 8×8 gray images: a bright left half or a bright right half, plus noise.
DatasetSplits synthetic_data() {
  return test::gray_data({.name = "synthetic",
                          .n_train = 96,
                          .n_test = 32,
                          .seed = 1,
                          .classes = {"left", "right"},
                          .bright = 150,
                          .dark = 60,
                          .noise = 60},
                         [](std::int64_t label, std::int64_t /*y*/, std::int64_t x) {
                           return (x < 4) == (label == 0);
                         });
}

TrainConfig small_config(const fs::path& out) {
  TrainConfig c = test::quick_config(out);
  c.batch_size = 16;
  c.stats_every = 3;
  c.log_every = 2;
  return c;
}

// The rows of a CSV file without the header. Of metrics_steps.csv only step, epoch and lr: its
// loss and accuracy are running averages over the epoch so far, which after a mid-epoch resume
// start again at the resumed step, and images/s is a timing.
std::vector<std::string> csv_rows(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  std::vector<std::string> rows;
  std::getline(in, line);
  while (std::getline(in, line)) {
    if (path.filename() == "metrics_steps.csv") {
      line = line.substr(0, line.find(',', line.find(',', line.find(',') + 1) + 1));
    }
    rows.push_back(line);
  }
  return rows;
}

Safetensors weights(const fs::path& run) {
  return read_safetensors((run / "last.safetensors").string());
}

void require_same_tensors(const Safetensors& a, const Safetensors& b) {
  REQUIRE(a.tensors.size() == b.tensors.size());
  for (const auto& [name, t] : a.tensors) {
    CAPTURE(name);
    REQUIRE(b.tensors.count(name) == 1);
    REQUIRE(max_abs_diff(t, b.tensors.at(name)) == 0.0);
  }
}

}  // namespace

TEST_CASE("train: a run resumed from its epoch checkpoint ends with the same weights",
          "[train][resume]") {
  TempDir tmp("trainer");
  const DatasetSplits data = synthetic_data();
  const TrainConfig full = small_config(tmp / "full");
  const TrainResult r = train(full, data, false);
  REQUIRE(r.epochs.size() == 2);

  // Killed at step 8: the last checkpoint is the one of the end of epoch 1 (step 6).
  TrainConfig part = small_config(tmp / "part");
  part.stop_after_steps = 8;
  train(part, data, false);
  part.stop_after_steps = 0;
  fs::remove(tmp / "part" / "metrics_epochs.csv");  // the best accuracy comes from the checkpoint
  const TrainResult resumed = train(part, data, true);
  REQUIRE(resumed.epochs.size() == 1);
  require_same_tensors(weights(tmp / "full"), weights(tmp / "part"));
  REQUIRE(resumed.best_test_accuracy == r.best_test_accuracy);
  REQUIRE(resumed.best_test_accuracy ==
          std::max(r.epochs[0].test_accuracy, r.epochs[1].test_accuracy));
  REQUIRE(resumed.final_test_accuracy == r.epochs[1].test_accuracy);
}

TEST_CASE("train: a run killed mid-epoch and resumed ends with the same weights",
          "[train][resume]") {
  TempDir tmp("trainer");
  const DatasetSplits data = synthetic_data();
  train(small_config(tmp / "full"), data, false);  // 2 epochs of 6 steps

  // The interrupted run checkpoints every 3 steps and dies after step 10: its last checkpoint is
  // from step 9, in the middle of epoch 2, and step 10 is lost.
  TrainConfig cut = small_config(tmp / "cut");
  cut.checkpoint_every = 3;
  cut.stop_after_steps = 10;
  train(cut, data, false);
  cut.stop_after_steps = 0;
  train(cut, data, true);
  require_same_tensors(weights(tmp / "full"), weights(tmp / "cut"));
  // The CSV files hold every row once: the redone step's rows replaced the lost ones.
  for (const char* f : {"metrics_steps.csv", "norm_stats.csv", "param_stats.csv"}) {
    CAPTURE(f);
    REQUIRE(csv_rows(tmp / "cut" / f) == csv_rows(tmp / "full" / f));
  }
}

TEST_CASE("train: the run directory holds config, metrics, statistics and checkpoints", "[train]") {
  TempDir tmp("trainer");
  const TrainConfig c = small_config(tmp / "run");
  train(c, synthetic_data(), false);
  for (const char* f : {"config.json", "metrics_steps.csv", "metrics_epochs.csv", "norm_stats.csv",
                        "param_stats.csv", "last.safetensors", "best.safetensors"}) {
    CAPTURE(f);
    REQUIRE(fs::exists(tmp / "run" / f));
  }
  std::ifstream in(tmp / "run" / "norm_stats.csv");
  std::string header;
  std::string row;
  std::getline(in, header);
  std::getline(in, row);
  REQUIRE(row.rfind("0,features.1,BatchNorm", 0) == 0);
  const Safetensors ck = weights(tmp / "run");
  REQUIRE(ck.tensors.count("features.0.weight") == 1);
  REQUIRE(ck.tensors.count("features.1.running_mean") == 1);
  REQUIRE(nlohmann::json::parse(ck.metadata.at("config"))["norm"] == "batch");
}

TEST_CASE("train: the loss falls on a learnable problem", "[train]") {
  TempDir tmp("trainer");
  TrainConfig c = small_config(tmp / "run");
  c.norm = "group";
  c.epochs = 3;
  const TrainResult r = train(c, synthetic_data(), false);
  REQUIRE(r.epochs.back().train_loss < r.epochs.front().train_loss);
  REQUIRE(r.final_test_accuracy > 0.9);
}

TEST_CASE("train --dtype float64: float64 weights from the float32 init, and a resumable run",
          "[train][dtype]") {
  TempDir tmp("trainer");
  TrainConfig c = small_config(tmp / "f32");
  c.norm = "batch";
  c.epochs = 1;
  c.stats_every = 0;
  TrainConfig c64 = c;
  c64.out = (tmp / "f64").string();
  c64.dtype = "float64";
  // the model: float64 parameters and buffers, the float32 init widened
  const auto m32 = build_model(c, 1, 8, 2, nullptr, nullptr);
  const auto m64 = build_model(c64, 1, 8, 2, nullptr, nullptr);
  const StateDict s32 = m32->state_dict(), s64 = m64->state_dict();
  REQUIRE(s64.size() == s32.size());
  for (const auto& [name, t] : s64) {
    CAPTURE(name);
    if (is_floating(s32.at(name).dtype())) {
      REQUIRE(t.dtype() == DType::f64);
      REQUIRE(max_abs_diff(t, s32.at(name).to(DType::f64)) == 0.0);
    }
  }
  // the same run in the two dtypes: the same loss to float32 round-off, but not the same bits
  const TrainResult r32 = train(c, synthetic_data(), false);
  const TrainResult r64 = train(c64, synthetic_data(), false);
  REQUIRE(r64.epochs.back().train_loss == Approx(r32.epochs.back().train_loss).epsilon(1e-4));
  REQUIRE(r64.epochs.back().train_loss != r32.epochs.back().train_loss);
  for (const auto& [name, t] : weights(tmp / "f64").tensors) {
    CAPTURE(name);
    REQUIRE((t.dtype() == DType::f64 || t.dtype() == DType::i64));
  }
  // the dtype is part of the run's config, so resuming rebuilds a float64 model
  std::ifstream in(tmp / "f64" / "config.json");
  REQUIRE(train_config_from_json(nlohmann::json::parse(in)).dtype == "float64");
  c64.epochs = 2;
  const TrainResult resumed = train(c64, synthetic_data(), true);
  REQUIRE(resumed.epochs.size() == 1);  // the second epoch
  REQUIRE(weights(tmp / "f64").tensors.at("classifier.weight").dtype() == DType::f64);
}

TEST_CASE("train config: JSON round trip and validation", "[train][config]") {
  TrainConfig c;
  c.norm = "batch_renorm";
  c.milestones = {3, 6};
  c.seed = 42;
  const TrainConfig back = train_config_from_json(to_json(c));
  REQUIRE(to_json(back) == to_json(c));
  c.batch_size = 0;
  REQUIRE_THROWS_WITH(c.validate(), Catch::Contains("--batch-size"));
  c.batch_size = 8;
  c.dtype = "float16";
  REQUIRE_THROWS_WITH(c.validate(), Catch::Contains("--dtype") && Catch::Contains("float16"));
  c.dtype = "float64";
  REQUIRE_NOTHROW(c.validate());
  c.norm = "bogus";
  REQUIRE_THROWS_AS(c.validate(), ValueError);
  REQUIRE_THROWS_AS(train_config_from_json(nlohmann::json::parse(R"({"epochs": "x"})")),
                    ValueError);
}

TEST_CASE("train: a batch larger than the training set is a clear error", "[train][errors]") {
  TempDir tmp("trainer");
  TrainConfig c = small_config(tmp / "run");
  c.batch_size = 1000;
  REQUIRE_THROWS_WITH(train(c, synthetic_data(), false), Catch::Contains("--batch-size 1000"));
}
