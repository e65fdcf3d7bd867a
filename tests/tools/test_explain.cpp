// normlab explain as a function (tools/explain.h): for every layer it explains, in training and
// (BatchNorm) evaluation, with random γ, β and running statistics, the intermediates computed from
// the formulas agree with the layer's own forward and backward; D6 and D7 appear as the docs say;
// the layers it does not explain are refused.
#include <catch2/catch.hpp>
#include <sstream>
#include <string>

#include "core/error.h"
#include "core/random.h"
#include "tools/explain.h"

using namespace normlab;
using Catch::Contains;

namespace {

ProbeRequest request_for(const std::string& layer, LayerOptions options, const Shape& shape,
                         bool train) {
  ProbeRequest r;
  r.layer = layer;
  r.options = std::move(options);
  r.train = train;
  r.seed = 11;
  Rng rng(3);
  r.input = ProbeArray{"x", randn(shape, DType::f64, rng, 0.5, 2.0)};
  const std::unique_ptr<Module> m = make_probe_layer(r, DType::f64);
  for (const auto& [name, p] : m->named_parameters()) {
    r.state[name] = ProbeArray{name, randn(p->shape(), DType::f64, rng, 1.0, 0.3)};
  }
  for (const auto& [name, b] : m->named_buffers()) {
    if (name == "running_mean") {
      r.state[name] = ProbeArray{name, randn(b->shape(), DType::f64, rng, 0.0, 0.5)};
    } else if (name == "running_var") {
      r.state[name] = ProbeArray{name, rand_uniform(b->shape(), DType::f64, rng, 0.5, 2.0)};
    }
  }
  return r;
}

// The four numbers of the line "The hand-written layer agrees ...: y a, dx b, dγ c, dβ d."
// (No std::regex: g++ 12 at -O2 warns inside <regex>, and the asan build treats it as an error.)
std::vector<double> agreement(const std::string& text) {
  const std::size_t at = text.find("(max |formula − layer|): ");
  REQUIRE(at != std::string::npos);
  std::istringstream line(text.substr(at + std::string("(max |formula − layer|): ").size()));
  std::vector<double> values;
  for (const char* label : {"y", "dx", "dγ", "dβ"}) {
    std::string name, number;
    line >> name >> number;
    CHECK(name == label);
    values.push_back(std::stod(number));
  }
  return values;
}

// The numbers of row `set` of the last table ("| set | Σdx | Σdx·x̂ | predicted |").
std::vector<double> invariant_row(const std::string& text, int set) {
  const std::size_t table = text.find("**Invariants per set**");
  REQUIRE(table != std::string::npos);
  const std::size_t at = text.find("\n| " + std::to_string(set) + " | ", table);
  REQUIRE(at != std::string::npos);
  std::istringstream row(text.substr(at + 1, text.find('\n', at + 1) - at - 1));
  std::vector<double> values;
  std::string cell;
  std::getline(row, cell, '|');  // before the first bar
  std::getline(row, cell, '|');  // the set
  while (std::getline(row, cell, '|')) {
    if (cell.find_first_not_of(' ') != std::string::npos) {
      values.push_back(std::stod(cell));
    }
  }
  return values;
}

}  // namespace

TEST_CASE("explain's formulas agree with the layer", "[explain]") {
  const auto [layer, options, shape, train] =
      GENERATE(table<std::string, LayerOptions, Shape, bool>({
          {"batch_norm", {{"num_features", "3"}}, {4, 3, 2, 1}, true},
          {"batch_norm", {{"num_features", "3"}}, {4, 3, 2, 1}, false},
          {"batch_norm", {{"num_features", "2"}, {"track_running_stats", "false"}}, {3, 2}, false},
          {"layer_norm", {{"normalized_shape", "2x3"}}, {2, 2, 3}, true},
          {"instance_norm", {{"num_features", "2"}, {"affine", "true"}}, {2, 2, 1, 3}, true},
          {"group_norm", {{"num_groups", "2"}, {"num_channels", "4"}}, {2, 4, 1, 2}, true},
          {"rms_norm", {{"normalized_shape", "4"}}, {3, 4}, true},
      }));
  CAPTURE(layer, train);
  const std::string text = explain(request_for(layer, options, shape, train), "normlab explain");
  INFO(text);
  for (const double d : agreement(text)) {
    CHECK(d < 1e-12);
  }
  CHECK_THAT(text, Contains("| k | index | set | x | x̂ | γ | β | y | dy | g | dx |"));
}

TEST_CASE("explain's invariant table shows D6 and D7", "[explain]") {
  SECTION("GroupNorm: Σdx = 0 and Σdx·x̂ is the eps term") {
    const std::string text = explain(
        request_for("group_norm", {{"num_groups", "1"}, {"num_channels", "2"}, {"eps", "0.5"}},
                    {1, 2, 1, 2}, true),
        "c");
    // One set of m = 4: Σdx = 0, and Σdx·x̂ equals the eps term, far from zero at eps = 0.5.
    const std::vector<double> row = invariant_row(text, 0);
    REQUIRE(row.size() == 3);
    CHECK(std::abs(row[0]) < 1e-12);
    CHECK(row[1] == Approx(row[2]).epsilon(1e-2));
    CHECK(std::abs(row[1]) > 1e-3);
  }
  SECTION("eval-mode BatchNorm says neither holds") {
    const std::string text =
        explain(request_for("batch_norm", {{"num_features", "2"}}, {3, 2}, false), "c");
    CHECK_THAT(text, Contains("so neither holds"));
    CHECK_THAT(text, Contains("dx = rstd·g, BN10"));
  }
}

TEST_CASE("explain refuses what it cannot explain", "[explain]") {
  ProbeRequest conv =
      request_for("conv2d", {{"in_channels", "1"}, {"out_channels", "1"}, {"kernel_size", "1"}},
                  {1, 1, 2, 2}, true);
  CHECK_THROWS_WITH(explain(conv, "c"), Contains("explain: conv2d has no reduction sets"));
  ProbeRequest big = request_for("batch_norm", {{"num_features", "4"}}, {8, 4, 3, 3}, true);
  CHECK_THROWS_WITH(explain(big, "c"), Contains("give at most 256"));
  ProbeRequest tracked =
      request_for("instance_norm", {{"num_features", "2"}, {"track_running_stats", "true"}},
                  {2, 2, 1, 3}, false);
  CHECK_THROWS_WITH(explain(tracked, "c"), Contains("not explained (batch_norm is)"));
}
