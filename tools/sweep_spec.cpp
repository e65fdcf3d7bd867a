#include "tools/sweep_spec.h"

#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/error.h"
#include "tools/csv.h"

namespace normlab {

namespace fs = std::filesystem;

namespace {

constexpr const char* kSpecFile = "sweep.json";

nlohmann::json to_json(const SweepSpec& s) {
  nlohmann::json grid = nlohmann::json::array();
  for (const auto& [flag, values] : s.grid) {
    grid.push_back({{"flag", flag}, {"values", values}});
  }
  return {{"grid", grid}, {"train_args", s.train_args}, {"threads", s.threads}};
}

std::optional<SweepSpec> read_if_present(const fs::path& dir) {
  const fs::path path = dir / kSpecFile;
  std::ifstream in(path);
  if (!in) {
    return std::nullopt;
  }
  try {
    const nlohmann::json j = nlohmann::json::parse(in);
    SweepSpec s;
    for (const auto& axis : j.at("grid")) {
      s.grid.emplace_back(axis.at("flag").get<std::string>(),
                          axis.at("values").get<std::vector<std::string>>());
    }
    s.train_args = j.at("train_args").get<std::vector<std::string>>();
    s.threads = j.at("threads").get<int>();
    return s;
  } catch (const nlohmann::json::exception& e) {
    throw ValueError(
        fmt::format("sweep: {} is not a sweep description ({})", path.string(), e.what()));
  }
}

// "norm=batch,group seed=0,1"
std::string describe_grid(const SweepSpec& s) {
  std::string text;
  for (const auto& [flag, values] : s.grid) {
    text += (text.empty() ? "" : " ") + flag + "=";
    for (std::size_t i = 0; i < values.size(); ++i) {
      text += (i == 0 ? "" : ",") + values[i];
    }
  }
  return text;
}

std::string describe_args(const SweepSpec& s) {
  std::string text;
  for (const std::string& a : s.train_args) {
    text += (text.empty() ? "" : " ") + a;
  }
  return text.empty() ? "(none)" : text;
}

}  // namespace

void check_or_save_sweep_spec(const fs::path& dir, const SweepSpec& spec) {
  const std::optional<SweepSpec> saved = read_if_present(dir);
  if (!saved) {
    write_text_file_atomic((dir / kSpecFile).string(), to_json(spec).dump(2) + "\n");
    return;
  }
  const auto differs = [&](const char* what, const std::string& was, const std::string& now) {
    throw ValueError(fmt::format(
        "sweep: {} holds a sweep with other {} (saved: {}; now: {}); continue it with normlab "
        "sweep --resume {}, or choose another --out",
        dir.string(), what, was, now, dir.string()));
  };
  if (saved->grid != spec.grid) {
    differs("grid", describe_grid(*saved), describe_grid(spec));
  }
  if (saved->train_args != spec.train_args) {
    differs("flags after --", describe_args(*saved), describe_args(spec));
  }
  if (saved->threads != spec.threads) {
    differs("threads per run", std::to_string(saved->threads), std::to_string(spec.threads));
  }
}

SweepSpec read_sweep_spec(const fs::path& dir) {
  std::optional<SweepSpec> s = read_if_present(dir);
  if (!s) {
    throw IoError(fmt::format("sweep: cannot resume: {} not found (rerun the sweep's command)",
                              (dir / kSpecFile).string()));
  }
  return *s;
}

}  // namespace normlab
