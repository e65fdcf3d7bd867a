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

TEST_CASE("train config integers must be JSON integers in range", "[train_config][errors][fuzz]") {
  // A float too large for int64 was cast by nlohmann (undefined behaviour; found by fuzzing).
  CHECK_THROWS_AS(parse_train_config(R"({"log_every": 5e48})", "c.json"), ValueError);
  CHECK_THROWS_WITH(parse_train_config(R"({"log_every": 5e48})", "c.json"),
                    Contains("'log_every'") && Contains("integer") && Contains("number"));
  CHECK_THROWS_AS(parse_train_config(R"({"epochs": 2.5})", "c.json"), ValueError);
  CHECK_THROWS_AS(parse_train_config(R"({"seed": -1})", "c.json"), ValueError);
  CHECK_THROWS_AS(parse_train_config(R"({"threads": 4294967296})", "c.json"), ValueError);
  CHECK_THROWS_AS(parse_train_config(R"({"milestones": [1, 2.5]})", "c.json"), ValueError);
  CHECK_THROWS_AS(parse_train_config(R"({"lr": "0.1"})", "c.json"), ValueError);
  const TrainConfig c =
      parse_train_config(R"({"seed": 18446744073709551615, "threads": -1, "lr": 1})", "c.json");
  CHECK(c.seed == 18446744073709551615ULL);
  CHECK(c.threads == -1);
  CHECK(c.lr == 1.0);
}
