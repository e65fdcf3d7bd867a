// The checkpointer: best.safetensors follows the best test accuracy, every checkpoint carries the
// best so far, and a resume restores it from last.safetensors alone.
#include <catch2/catch.hpp>
#include <filesystem>

#include "core/rng.h"
#include "core/safetensors.h"
#include "layers/linear.h"
#include "layers/optim/sgd.h"
#include "tests/temp_dir.h"
#include "tools/checkpointer.h"

using namespace normlab;
using normlab::testing::TempDir;
namespace fs = std::filesystem;

namespace {

std::string meta(const fs::path& file, const std::string& key) {
  return read_safetensors(file.string()).metadata.at(key);
}

}  // namespace

TEST_CASE("Checkpointer keeps best.safetensors at the best epoch", "[checkpointer]") {
  TempDir tmp("checkpointer");
  Rng rng(1);
  Linear model(3, 2, rng);
  SGD sgd(param_groups(model.named_parameters()), {.lr = 0.1});
  Checkpointer ck(tmp.path(), R"({"model": "linear"})");

  ck.epoch_done(model, sgd, 1, 10, 0.0);  // the first epoch is the best so far, even at 0
  REQUIRE(meta(ck.best_path(), "epoch") == "1");
  ck.epoch_done(model, sgd, 2, 20, 0.5);
  ck.epoch_done(model, sgd, 3, 30, 0.25);
  REQUIRE(ck.best_accuracy() == 0.5);
  REQUIRE(meta(ck.best_path(), "epoch") == "2");
  REQUIRE(meta(ck.last_path(), "epoch") == "3");
  REQUIRE(meta(ck.last_path(), "step") == "30");
  REQUIRE(meta(ck.last_path(), "best_test_accuracy") == "0.5");
  REQUIRE(meta(ck.last_path(), "config") == R"({"model": "linear"})");

  ck.save_last(model, sgd, 3, 35);  // mid-epoch: last only, with the best so far
  REQUIRE(meta(ck.last_path(), "step") == "35");
  REQUIRE(meta(ck.last_path(), "best_test_accuracy") == "0.5");
  REQUIRE(meta(ck.best_path(), "epoch") == "2");
}

TEST_CASE("Checkpointer restores the best accuracy from the last checkpoint",
          "[checkpointer][resume]") {
  TempDir tmp("checkpointer");
  Rng rng(2);
  Linear model(3, 2, rng);
  SGD sgd(param_groups(model.named_parameters()), {.lr = 0.1});
  {
    Checkpointer ck(tmp.path(), "{}");
    ck.epoch_done(model, sgd, 1, 4, 0.625);
    ck.epoch_done(model, sgd, 2, 8, 0.375);
  }
  Checkpointer resumed(tmp.path(), "{}");
  REQUIRE(resumed.best_accuracy() == 0.0);
  const TrainingState st = resumed.resume(model, sgd);
  REQUIRE(st.epoch == 2);
  REQUIRE(st.step == 8);
  REQUIRE(resumed.best_accuracy() == 0.625);
  resumed.epoch_done(model, sgd, 3, 12, 0.5);  // below the restored best: best.safetensors stays
  REQUIRE(meta(resumed.best_path(), "epoch") == "1");
}
