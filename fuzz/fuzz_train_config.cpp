// fuzz/fuzz_train_config.cpp: a run's config.json (tools/train_config.h), as `--resume` reads it:
// JSON text → TrainConfig → validate. A config that validates must come back unchanged from
// to_json → train_config_from_json, since that is how it is stored in the run and its checkpoints.
#include <nlohmann/json.hpp>

#include "fuzz/fuzz_util.h"
#include "tools/train_config.h"

using namespace normlab;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto config = fuzz::accepted([&] {
    const TrainConfig c = parse_train_config(text, "config.json");
    c.validate();
    return c;
  });
  if (config) {
    const std::string stored = to_json(*config).dump();
    const auto back = fuzz::accepted([&] { return parse_train_config(stored, "stored config"); });
    fuzz::check(back.has_value(), "a valid config does not read back: " + stored);
    fuzz::check(to_json(*back).dump() == stored,
                "a valid config changes when read back: " + stored);
    const bool validates = fuzz::accepted([&] {
                             back->validate();
                             return true;
                           }).has_value();
    fuzz::check(validates, "a valid config no longer validates when read back: " + stored);
  }
  return 0;
}
