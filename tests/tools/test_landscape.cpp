// The landscape diagnostics (tools/landscape.h): the measurement leaves the model exactly as it
// found it (weights, running statistics, Dropout's Rng), a run's final weights are bit-identical
// with and without --landscape-every, and landscape.csv holds one row per η and one β row per
// measured step, all finite.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/random.h"
#include "core/safetensors.h"
#include "core/tensor_math.h"
#include "layers/dropout.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/sequential.h"
#include "tests/temp_dir.h"
#include "tests/tools/train_test_helpers.h"
#include "tools/landscape.h"
#include "tools/trainer.h"

using namespace normlab;
using normlab::testing::TempDir;
namespace fs = std::filesystem;

namespace {

// Three classes of 8×8 gray images told apart by which third of the rows is bright, plus noise.
DatasetSplits striped_data() {
  return test::gray_data(
      {.name = "striped",
       .n_train = 96,
       .n_test = 30,
       .seed = 3,
       .classes = {"top", "middle", "bottom"},
       .bright = 140,
       .dark = 50,
       .noise = 80},
      [](std::int64_t label, std::int64_t y, std::int64_t /*x*/) { return y * 3 / 8 == label; });
}

// 2 epochs of 12 steps on the tiny CNN with BatchNorm, whose running statistics a measurement
// forward in training mode would move.
TrainConfig bn_config(const fs::path& out) {
  TrainConfig c = test::quick_config(out);
  c.batch_size = 8;
  c.stats_every = 4;
  return c;
}

std::vector<std::vector<std::string>> csv_cells(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  std::vector<std::vector<std::string>> rows;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) {
      cells.push_back(cell);
    }
    if (!line.empty() && line.back() == ',') {
      cells.emplace_back();
    }
    rows.push_back(cells);
  }
  return rows;
}

Batch first_batch(const DatasetSplits& data, std::int64_t n) {
  DataLoader loader(data.train,
                    {.batch_size = n, .shuffle = false, .normalize = channel_stats(data.train)});
  loader.start_epoch(0);
  return *loader.next();
}

void require_same_state(Module& a, const StateDict& before) {
  const StateDict now = a.state_dict();
  REQUIRE(now.size() == before.size());
  for (const auto& [name, t] : before) {
    CAPTURE(name);
    REQUIRE(max_abs_diff(now.at(name), t) == 0.0);
  }
}

StateDict cloned_state(Module& m) {
  StateDict s;
  for (const auto& [name, t] : m.state_dict()) {
    s[name] = t.clone();
  }
  return s;
}

}  // namespace

TEST_CASE("landscape: the measurement restores weights and running statistics", "[landscape]") {
  const DatasetSplits data = striped_data();
  TrainConfig c = bn_config("unused");
  auto model = build_model(c, 1, 8, 3);
  model->train();
  const Batch batch = first_batch(data, 8);
  const StateDict before = cloned_state(*model);
  const std::vector<double> etas = default_landscape_etas(0.05);
  const LandscapeMeasure m = measure_landscape(*model, batch, etas);
  require_same_state(*model, before);
  for (Variable* p : model->parameters()) {
    REQUIRE_FALSE(p->grad().defined());
  }
  REQUIRE(m.points.size() == etas.size());
  REQUIRE(m.grad_norm > 0);
  // The test can fail: one forward in training mode moves BatchNorm's running mean, which is
  // what the measurement's forwards would leave behind without the restore.
  model->forward_no_grad(batch.images);
  const StateDict after = model->state_dict();
  REQUIRE(max_abs_diff(after.at("features.1.running_mean"), before.at("features.1.running_mean")) >
          0.0);
}

TEST_CASE("landscape: the values are consistent with their definitions", "[landscape]") {
  const DatasetSplits data = striped_data();
  auto model = build_model(bn_config("unused"), 1, 8, 3);
  model->train();
  const Batch batch = first_batch(data, 8);
  const std::vector<double> etas{0.01, 0.1, 1.0};
  const LandscapeMeasure m = measure_landscape(*model, batch, etas);
  double max_ratio = 0.0;
  for (std::size_t i = 0; i < etas.size(); ++i) {
    const LandscapePoint& p = m.points[i];
    CAPTURE(p.eta, p.loss, p.grad_change, p.ratio);
    REQUIRE(p.eta == etas[i]);
    REQUIRE(std::isfinite(p.loss));
    REQUIRE(p.grad_change > 0);
    REQUIRE(p.ratio == Approx(p.grad_change / (p.eta * m.grad_norm)).epsilon(1e-12));
    max_ratio = std::max(max_ratio, p.ratio);
  }
  REQUIRE(m.beta == max_ratio);
  // A small step along −g lowers the batch's loss (first order: ΔL ≈ −η‖g‖²).
  REQUIRE(m.points[0].loss < m.loss);
  const std::vector<double> bad{0.1, -1.0};
  REQUIRE_THROWS_AS(measure_landscape(*model, batch, bad), ValueError);
  REQUIRE_THROWS_AS(measure_landscape(*model, batch, std::vector<double>{}), ValueError);
}

TEST_CASE("landscape: Dropout's Rng is restored", "[landscape]") {
  Rng rng(5);
  Sequential net;
  net.add(std::make_unique<Flatten>());
  net.add(std::make_unique<Linear>(64, 3, rng));
  net.add(std::make_unique<Dropout>(0.5, 11));
  const DatasetSplits data = striped_data();
  const Batch batch = first_batch(data, 6);
  net.train();
  Rng probe(11);
  const std::string fresh = probe.state();
  measure_landscape(net, batch, std::vector<double>{0.1});
  auto* dropout = dynamic_cast<Dropout*>(net.named_children().back().second);
  REQUIRE(dropout != nullptr);
  REQUIRE(dropout->rng().state() == fresh);
  net.forward_no_grad(batch.images);  // the test can fail: a forward draws from the Rng
  REQUIRE(dropout->rng().state() != fresh);
}

TEST_CASE("landscape: a run's final weights are bit-identical with and without --landscape-every",
          "[landscape][train]") {
  TempDir tmp("landscape");
  const DatasetSplits data = striped_data();
  train(bn_config(tmp / "plain"), data, false);
  TrainConfig measured = bn_config(tmp / "measured");
  measured.landscape_every = 5;
  train(measured, data, false);

  for (const char* file : {"last.safetensors", "best.safetensors"}) {
    CAPTURE(file);
    const Safetensors a = read_safetensors((tmp / "plain" / file).string());
    const Safetensors b = read_safetensors((tmp / "measured" / file).string());
    REQUIRE(a.tensors.size() == b.tensors.size());
    for (const auto& [name, t] : a.tensors) {
      CAPTURE(name);
      REQUIRE(max_abs_diff(t, b.tensors.at(name)) == 0.0);
    }
  }
  REQUIRE_FALSE(fs::exists(tmp / "plain" / "landscape.csv"));

  // 24 steps measured at steps 0, 5, 10, 15, 20: five rows of η and one β row each.
  const auto rows = csv_cells(tmp / "measured" / "landscape.csv");
  REQUIRE(rows.size() == 1 + 5 * 6);
  REQUIRE(rows[0] == std::vector<std::string>{"step", "eta", "loss", "grad_change", "beta"});
  const std::vector<double> etas = default_landscape_etas(0.05);
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const auto& r = rows[i];
    CAPTURE(i);
    REQUIRE(r.size() == 5);
    REQUIRE(std::stoll(r[0]) == static_cast<std::int64_t>((i - 1) / 6 * 5));
    const std::size_t k = (i - 1) % 6;
    REQUIRE(std::isfinite(std::stod(r[2])));
    REQUIRE(std::isfinite(std::stod(r[4])));
    if (k < 5) {
      REQUIRE(std::stod(r[1]) == Approx(etas[k]));
      REQUIRE(std::isfinite(std::stod(r[3])));
    } else {
      REQUIRE(r[1].empty());  // the β row
      REQUIRE(r[3].empty());
    }
  }
}

TEST_CASE("landscape: a resumed run keeps the rows before its checkpoint and redoes the rest",
          "[landscape][resume]") {
  TempDir tmp("landscape");
  const DatasetSplits data = striped_data();
  TrainConfig full = bn_config(tmp / "full");
  full.landscape_every = 3;
  train(full, data, false);
  TrainConfig cut = full;
  cut.out = (tmp / "cut").string();
  cut.checkpoint_every = 4;
  cut.stop_after_steps = 10;
  train(cut, data, false);
  cut.stop_after_steps = 0;
  train(cut, data, true);
  std::ifstream a(tmp / "full" / "landscape.csv");
  std::ifstream b(tmp / "cut" / "landscape.csv");
  const std::string ta{std::istreambuf_iterator<char>(a), std::istreambuf_iterator<char>()};
  const std::string tb{std::istreambuf_iterator<char>(b), std::istreambuf_iterator<char>()};
  REQUIRE(ta == tb);
}
