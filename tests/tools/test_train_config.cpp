// TrainConfig from JSON text: what `normlab train --resume` reads from config.json and `normlab
// eval` from a checkpoint's metadata. Malformed text is a ValueError naming the source (it used to
// escape as nlohmann's parse_error, an "internal error" with exit status 1 in `normlab eval`).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tools/train_config.h"

using namespace normlab;
using Catch::Matchers::Contains;

TEST_CASE("parse_train_config reads what to_json writes", "[train_config]") {
  TrainConfig c;
  c.model = "resnet20";
  c.milestones = {3, 5};
  c.seed = 42;
  const TrainConfig back = parse_train_config(to_json(c).dump(), "config.json");
  CHECK(to_json(back) == to_json(c));
  CHECK(parse_train_config(R"({"lr": 0.5})", "x").lr == 0.5);
}

TEST_CASE("parse_train_config rejects malformed text with a ValueError naming the source",
          "[train_config][errors][fuzz]") {
  CHECK_THROWS_AS(parse_train_config("{\"lr\": ", "run/config.json"), ValueError);
  CHECK_THROWS_WITH(parse_train_config("{\"lr\": ", "run/config.json"),
                    Contains("run/config.json") && Contains("not valid JSON"));
  CHECK_THROWS_AS(parse_train_config("[1, 2]", "ckpt metadata 'config'"), ValueError);
  CHECK_THROWS_WITH(parse_train_config("[1, 2]", "ckpt metadata 'config'"),
                    Contains("expected a JSON object") && Contains("ckpt metadata 'config'"));
  CHECK_THROWS_AS(parse_train_config(R"({"epochs": "many"})", "c.json"), ValueError);
  CHECK_THROWS_WITH(parse_train_config(R"({"epochs": "many"})", "c.json"),
                    Contains("'epochs'") && Contains("c.json"));
}
