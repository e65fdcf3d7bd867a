#include "tools/checkpoint.h"

#include <fmt/format.h>

#include <charconv>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "core/rng.h"
#include "core/safetensors.h"

namespace normlab {

namespace {

constexpr std::string_view kFormatKey = "normlab.checkpoint";
constexpr std::string_view kFormatVersion = "1";
constexpr std::string_view kOptimPrefix = "optim.";
constexpr std::string_view kRngPrefix = "rng.";
constexpr std::string_view kBestAccuracyKey = "best_test_accuracy";

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw IoError(fmt::format("checkpoint: {}: {}", path, what));
}

const std::string& metadata_at(const std::string& path, const MetadataMap& meta,
                               std::string_view key) {
  const auto it = meta.find(std::string(key));
  if (it == meta.end()) {
    fail(path, fmt::format("metadata has no '{}'", key));
  }
  return it->second;
}

std::int64_t parse_count(const std::string& path, const MetadataMap& meta, std::string_view key) {
  const std::string& text = metadata_at(path, meta, key);
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0) {
    fail(path, fmt::format("metadata '{}' = '{}' is not a non-negative integer", key, text));
  }
  return value;
}

// The best accuracy, or 0 for a file written before the key existed.
double parse_accuracy(const std::string& path, const MetadataMap& meta) {
  const auto it = meta.find(std::string(kBestAccuracyKey));
  if (it == meta.end()) {
    return 0.0;
  }
  const std::string& text = it->second;
  double value = 0.0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !(value >= 0.0 && value <= 1.0)) {
    fail(path,
         fmt::format("metadata '{}' = '{}' is not an accuracy in [0, 1]", kBestAccuracyKey, text));
  }
  return value;
}

// Parses and checks the metadata without touching any model or optimizer.
TrainingState parse_training_state(const std::string& path, const MetadataMap& meta,
                                   const Optimizer& optimizer) {
  const auto format = meta.find(std::string(kFormatKey));
  if (format == meta.end() || format->second != kFormatVersion) {
    fail(path, fmt::format(
                   "not a normlab checkpoint (metadata '{}' is {}, expected '{}')", kFormatKey,
                   format == meta.end() ? "missing" : "'" + format->second + "'", kFormatVersion));
  }
  const std::string& saved_optimizer = metadata_at(path, meta, "optimizer");
  if (saved_optimizer != optimizer.type_name()) {
    throw ValueError(fmt::format("checkpoint: {}: holds {} state but the optimizer is {}", path,
                                 saved_optimizer, optimizer.type_name()));
  }
  TrainingState state;
  state.epoch = parse_count(path, meta, "epoch");
  state.step = parse_count(path, meta, "step");
  state.best_test_accuracy = parse_accuracy(path, meta);
  state.config_json = metadata_at(path, meta, "config");
  if (!nlohmann::json::accept(state.config_json)) {
    fail(path, "metadata 'config' is not valid JSON");
  }
  Rng probe(0);
  for (const auto& [key, value] : meta) {
    if (key.starts_with(kRngPrefix)) {
      try {
        probe.set_state(value);
      } catch (const ValueError& e) {
        fail(path, fmt::format("metadata '{}' is not an Rng state ({})", key, e.what()));
      }
      state.rng_states[key.substr(kRngPrefix.size())] = value;
    }
  }
  return state;
}

// The names and shapes Module::load_state_dict(strict) requires, checked here too so that a model
// mismatch is reported before the optimizer's state (whose shapes follow the model's) is looked at.
void check_model_state(const std::string& path, Module& model, const StateDict& state) {
  std::set<std::string> known;
  // In the model's order (parameters, then buffers), as Module::load_state_dict reports.
  auto check = [&](const std::string& name, const Tensor& current) {
    known.insert(name);
    const auto it = state.find(name);
    if (it == state.end()) {
      throw ValueError(fmt::format("checkpoint: {}: missing '{}' (the model expects shape {})",
                                   path, name, to_string(current.shape())));
    }
    if (it->second.shape() != current.shape()) {
      throw ShapeError(fmt::format("checkpoint: {}: '{}' has shape {} but the model expects {}",
                                   path, name, to_string(it->second.shape()),
                                   to_string(current.shape())));
    }
  };
  for (const auto& [name, p] : model.named_parameters()) {
    check(name, p->data());
  }
  for (const auto& [name, b] : model.named_buffers()) {
    check(name, *b);
  }
  for (const auto& [name, t] : state) {
    if (known.count(name) == 0) {
      throw ValueError(fmt::format("checkpoint: {}: unexpected '{}' (shape {}) not in the model",
                                   path, name, to_string(t.shape())));
    }
  }
}

// Rethrows a mismatch with the path in front, keeping its type.
template <class E>
[[noreturn]] void rethrow_with_path(const std::string& path, const E& e) {
  throw E(fmt::format("checkpoint: {}: {}", path, e.what()));
}

// The tensors and metadata of a checkpoint; path only names the file in errors.
std::pair<TensorMap, MetadataMap> checkpoint_contents(const std::string& path, Module& model,
                                                      const Optimizer& optimizer,
                                                      const TrainingState& state) {
  if (state.epoch < 0 || state.step < 0) {
    throw ValueError(fmt::format("save_checkpoint: {}: negative epoch {} or step {}", path,
                                 state.epoch, state.step));
  }
  if (!(state.best_test_accuracy >= 0.0 && state.best_test_accuracy <= 1.0)) {
    throw ValueError(fmt::format("save_checkpoint: {}: best test accuracy {} is outside [0, 1]",
                                 path, state.best_test_accuracy));
  }
  if (!nlohmann::json::accept(state.config_json)) {
    throw ValueError(fmt::format("save_checkpoint: {}: config is not valid JSON", path));
  }
  TensorMap tensors = model.state_dict();
  for (const auto& [name, t] : tensors) {
    if (name.starts_with(kOptimPrefix)) {
      throw ValueError(fmt::format(
          "save_checkpoint: {}: model tensor '{}' clashes with the optimizer's '{}' prefix", path,
          name, kOptimPrefix));
    }
  }
  tensors.merge(optimizer.state_dict());
  MetadataMap meta = {{std::string(kFormatKey), std::string(kFormatVersion)},
                      {"epoch", std::to_string(state.epoch)},
                      {"step", std::to_string(state.step)},
                      {std::string(kBestAccuracyKey), fmt::format("{}", state.best_test_accuracy)},
                      {"optimizer", optimizer.type_name()},
                      {"config", state.config_json}};
  for (const auto& [name, rng_state] : state.rng_states) {
    meta[std::string(kRngPrefix) + name] = rng_state;
  }
  return {std::move(tensors), std::move(meta)};
}

}  // namespace

void save_checkpoint(const std::string& path, Module& model, const Optimizer& optimizer,
                     const TrainingState& state) {
  const auto [tensors, meta] = checkpoint_contents(path, model, optimizer, state);
  write_safetensors(path, tensors, meta);
}

std::vector<std::byte> checkpoint_to_bytes(const std::string& path, Module& model,
                                           const Optimizer& optimizer, const TrainingState& state) {
  const auto [tensors, meta] = checkpoint_contents(path, model, optimizer, state);
  return safetensors_to_bytes(tensors, meta);
}

TrainingState load_checkpoint(const std::string& path, Module& model, Optimizer& optimizer) {
  // step 1: the file is whole and well-formed (safetensors validates every byte range)
  return load_checkpoint(read_safetensors(path), path, model, optimizer);
}

TrainingState load_checkpoint(const Safetensors& file, const std::string& path, Module& model,
                              Optimizer& optimizer) {
  TrainingState state = parse_training_state(path, file.metadata, optimizer);
  StateDict model_state;
  OptimizerState optimizer_state;
  for (const auto& [name, t] : file.tensors) {
    (name.starts_with(kOptimPrefix) ? optimizer_state : model_state).emplace(name, t);
  }
  // step 2: the model's and the optimizer's checks both pass before either changes
  check_model_state(path, model, model_state);
  try {
    optimizer.check_state_dict(optimizer_state);
    model.load_state_dict(model_state, /*strict=*/true);
  } catch (const ShapeError& e) {
    rethrow_with_path(path, e);
  } catch (const ValueError& e) {
    rethrow_with_path(path, e);
  } catch (const DTypeError& e) {
    rethrow_with_path(path, e);
  }
  // step 3: already checked, so this cannot fail half-way
  optimizer.load_state_dict(optimizer_state);
  return state;
}

}  // namespace normlab
