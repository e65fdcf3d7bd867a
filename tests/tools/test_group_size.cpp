// --group-size (channels per group, the GN paper's Table 3 second half): every grouped norm gets
// C / group_size groups, a layer whose channels do not divide is an error naming it, and the flag
// is exclusive with --num-groups and applies only to the grouped norms. Also the JSON round trip
// of the landscape options.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "layers/norm/group_norm.h"
#include "tools/train_config.h"
#include "tools/trainer.h"

using namespace normlab;

namespace {

void collect_groups(Module& m, std::vector<std::int64_t>& out) {
  if (const auto* gn = dynamic_cast<const GroupNorm*>(&m)) {
    out.push_back(gn->num_groups());
  }
  for (const auto& [name, child] : m.named_children()) {
    collect_groups(*child, out);
  }
}

// Parses args as `normlab train` does, up to the flag checks.
TrainConfig parse(std::vector<std::string> args) {
  CLI::App app{"train"};
  TrainConfig c;
  add_train_flags(app, c);
  std::reverse(args.begin(), args.end());
  app.parse(args);
  c.validate();
  check_flag_conflicts(app, c);
  return c;
}

}  // namespace

TEST_CASE("group_size gives every GroupNorm C / group_size groups", "[group_size]") {
  TrainConfig c;
  c.model = "tiny";
  c.norm = "group";
  c.width = 0.25;  // 8, 16, 32 channels
  c.group_size = 4;
  std::vector<std::int64_t> groups;
  collect_groups(*build_model(c, 1, 8, 10), groups);
  REQUIRE(groups == std::vector<std::int64_t>{2, 4, 8});
  c.group_size = 0;
  c.num_groups = 4;
  groups.clear();
  collect_groups(*build_model(c, 1, 8, 10), groups);
  REQUIRE(groups == std::vector<std::int64_t>{4, 4, 4});
}

TEST_CASE("group_size that does not divide a layer's channels names the layer",
          "[group_size][errors]") {
  TrainConfig c;
  c.model = "tiny";
  c.norm = "group";
  c.width = 0.25;
  c.group_size = 3;
  REQUIRE_THROWS_AS(build_model(c, 1, 8, 10), ValueError);
  REQUIRE_THROWS_WITH(build_model(c, 1, 8, 10),
                      Catch::Matchers::Contains("8 channels are not divisible into groups of 3"));
  c.norm = "batch";  // no groups: the option does not apply to the model
  REQUIRE_NOTHROW(build_model(c, 1, 8, 10));
}

TEST_CASE("train flags: --group-size is exclusive with --num-groups and needs a grouped norm",
          "[group_size][errors]") {
  REQUIRE(parse({"--norm", "group", "--group-size", "4"}).group_size == 4);
  REQUIRE_THROWS_WITH(parse({"--norm", "group", "--group-size", "4", "--num-groups", "8"}),
                      Catch::Matchers::Contains("--group-size and --num-groups are exclusive"));
  REQUIRE_THROWS_WITH(parse({"--norm", "batch", "--group-size", "4"}),
                      Catch::Matchers::Contains("applies only to --norm group"));
  REQUIRE_THROWS_WITH(parse({"--group-size", "-1"}), Catch::Matchers::Contains("--group-size"));
  REQUIRE_THROWS_WITH(parse({"--landscape-etas", "0.1,-2"}),
                      Catch::Matchers::Contains("--landscape-etas"));
}

TEST_CASE("group_size and the landscape options survive config.json", "[group_size][config]") {
  TrainConfig c;
  c.group_size = 16;
  c.landscape_every = 7;
  c.landscape_etas = {0.01, 0.5};
  const TrainConfig back = parse_train_config(to_json(c).dump(), "config.json");
  REQUIRE(back.group_size == 16);
  REQUIRE(back.landscape_every == 7);
  REQUIRE(back.landscape_etas == c.landscape_etas);
  REQUIRE_THROWS_AS(parse_train_config(R"({"landscape_etas": [0.1, "x"]})", "x"), ValueError);
}
