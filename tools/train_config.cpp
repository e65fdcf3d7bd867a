#include "tools/train_config.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "core/error.h"
#include "layers/norm/norm_kind.h"
#include "models/model.h"

namespace normlab {

namespace {

// A member of TrainConfig as it appears outside the struct: its key in config.json, which with
// '-' for '_' is also its flag (num_groups: --num-groups), and the flag's help group and text.
struct Field {
  const char* key;
  const char* group;
  const char* help;
  bool no_flag = false;  // a bool whose flag comes with a --no-<flag> that sets it false
};

// Every member once, in the order of --help: one list keeps to_json, from_json and the flags in
// step.
template <class C, class F>
void for_each_field(C& c, F&& f) {
  constexpr const char* kModel = "Model";
  constexpr const char* kData = "Data";
  constexpr const char* kOptimization = "Optimization";
  constexpr const char* kRun = "Run";
  constexpr const char* kDiagnostics = "Diagnostics";
  f({"model", kModel, "model: tiny | vgg | resnet20"}, c.model);
  f({"norm", kModel,
     "normalization: none | batch | group | layer | instance | batch_renorm | batch_channel | "
     "ws_group | sync_batch (BatchNorm over the global batch of every rank; batch normalizes each "
     "rank's own shard)"},
    c.norm);
  f({"num_groups", kModel,
     "groups of group/batch_channel/ws_group (clamped to a divisor of each layer's channels)"},
    c.num_groups);
  f({"group_size", kModel,
     "channels per group of group/batch_channel/ws_group in every layer, so G = C / group-size "
     "varies with the layer (0: use --num-groups; exclusive with it)"},
    c.group_size);
  f({"norm_eps", kModel, "epsilon of every normalization layer"}, c.norm_eps);
  f({"norm_momentum", kModel, "momentum of running statistics"}, c.norm_momentum);
  f({"width", kModel, "channel multiplier (use 0.25 for vgg on a CPU)"}, c.width);
  f({"dtype", kModel,
     "float32 | float64: the model's weights, activations and gradients (float64 trains about "
     "half as fast; runs that must agree to round-off, such as 2 ranks against 1 process, stay "
     "within it)"},
    c.dtype);
  f({"zero_init_gamma", kModel,
     "zero the last normalization gamma of each residual block (resnet20)"},
    c.zero_init_gamma);
  f({"data", kData,
     "dataset: fashion-mnist [DIR] | mnist DIR | cifar10 DIR|ARCHIVE | cifar100 DIR|ARCHIVE | "
     "folder DIR (write 'cifar10:DIR' or quote the space)"},
    c.data);
  f({"image_size", kData, "image size for folder datasets"}, c.image_size);
  f({"train_subset", kData, "use only the first N training images (0: all)"}, c.train_subset);
  f({"test_subset", kData, "use only the first N test images (0: all)"}, c.test_subset);
  f({.key = "augment",
     .group = kData,
     .help = "random crop (zero padding of size/8) and horizontal flip while training",
     .no_flag = true},
    c.augment);
  f({"batch_size", kOptimization,
     "images per training step: the global batch (under mpirun -np K each rank takes batch-size/K "
     "of it)"},
    c.batch_size);
  f({"epochs", kOptimization, "passes over the training set"}, c.epochs);
  f({"optimizer", kOptimization, "sgd | adam | adamw"}, c.optimizer);
  f({"lr", kOptimization, "learning rate (for --lr-base-batch images when that is set)"}, c.lr);
  f({"lr_base_batch", kOptimization,
     "linear scaling rule: the lr used is lr * batch-size / lr-base-batch (0: off)"},
    c.lr_base_batch);
  f({"momentum", kOptimization, "SGD momentum"}, c.momentum);
  f({"nesterov", kOptimization, "Nesterov momentum"}, c.nesterov);
  f({"weight_decay", kOptimization, "weight decay"}, c.weight_decay);
  f({"decay_norm_and_bias", kOptimization,
     "also apply weight decay to biases and normalization gamma/beta"},
    c.decay_norm_and_bias);
  f({"schedule", kOptimization, "lr schedule: constant | multistep | cosine"}, c.schedule);
  f({"milestones", kOptimization, "epochs at which multistep multiplies lr by gamma"},
    c.milestones);
  f({"gamma", kOptimization, "multistep factor"}, c.gamma);
  f({"warmup_epochs", kOptimization, "linear warm-up from lr/10 over these epochs"},
    c.warmup_epochs);
  f({"seed", kRun, "seed of the init, the shuffling and the augmentation"}, c.seed);
  f({"threads", kRun, "threads for GEMM and kernels (0: every core)"}, c.threads);
  f({"out", kRun, "run directory (default: runs/<model>-<norm>-b<batch>-s<seed>)"}, c.out);
  f({"eval_batch_size", kRun, "images per evaluation batch"}, c.eval_batch_size);
  f({"log_every", kRun, "steps between progress lines when not on a terminal"}, c.log_every);
  f({"stats_every", kRun,
     "steps between records of normalization statistics and gradient norms (0: off)"},
    c.stats_every);
  f({"checkpoint_every", kRun, "steps between mid-epoch checkpoints (0: at epoch ends only)"},
    c.checkpoint_every);
  f({.key = "progress",
     .group = kRun,
     .help = "progress bar when stdout is a terminal",
     .no_flag = true},
    c.progress);
  f({"stop_after_steps", kRun,
     "stop after this many steps without a final checkpoint, as if killed (0: off)"},
    c.stop_after_steps);
  f({"landscape_every", kDiagnostics,
     "steps between loss-landscape measurements along the gradient, written to landscape.csv "
     "(Santurkar et al. 2018; 0: off)"},
    c.landscape_every);
  f({"landscape_etas", kDiagnostics,
     "step sizes of the landscape measurements, comma-separated (default: lr * 0.25,0.5,1,2,4 with "
     "the lr after --lr-base-batch scaling)"},
    c.landscape_etas);
}

void require(bool ok, std::string_view flag, const std::string& what) {
  if (!ok) {
    throw ValueError(fmt::format("train: --{} {}", flag, what));
  }
}

}  // namespace

double TrainConfig::effective_lr() const {
  return lr_base_batch > 0
             ? lr * static_cast<double>(batch_size) / static_cast<double>(lr_base_batch)
             : lr;
}

std::string TrainConfig::default_out() const {
  return fmt::format("runs/{}-{}-b{}-s{}", model, norm, batch_size, seed);
}

void TrainConfig::validate() const {
  parse_model_kind(model);
  parse_norm_kind(norm);
  require(num_groups >= 1, "num-groups", "must be at least 1");
  require(group_size >= 0, "group-size", "must not be negative (0: use --num-groups)");
  require(norm_eps > 0, "norm-eps", "must be positive");
  require(norm_momentum >= 0 && norm_momentum <= 1, "norm-momentum", "must be in [0, 1]");
  require(width > 0, "width", "must be positive");
  require(dtype == "float32" || dtype == "float64", "dtype",
          fmt::format("'{}' is not one of float32, float64", dtype));
  require(batch_size >= 1, "batch-size", "must be at least 1");
  require(epochs >= 1, "epochs", "must be at least 1");
  require(optimizer == "sgd" || optimizer == "adam" || optimizer == "adamw", "optimizer",
          fmt::format("'{}' is not one of sgd, adam, adamw", optimizer));
  require(std::isfinite(lr) && lr > 0, "lr", "must be positive");
  require(schedule == "constant" || schedule == "multistep" || schedule == "cosine", "schedule",
          fmt::format("'{}' is not one of constant, multistep, cosine", schedule));
  require(weight_decay >= 0, "weight-decay", "must not be negative");
  require(warmup_epochs >= 0, "warmup-epochs", "must not be negative");
  require(eval_batch_size >= 1, "eval-batch-size", "must be at least 1");
  require(image_size >= 1, "image-size", "must be at least 1");
  require(train_subset >= 0 && test_subset >= 0, "train-subset", "must not be negative");
  require(log_every >= 1, "log-every", "must be at least 1");
  require(stats_every >= 0 && checkpoint_every >= 0 && stop_after_steps >= 0, "stats-every",
          "must not be negative");
  require(landscape_every >= 0, "landscape-every", "must not be negative");
  for (const double eta : landscape_etas) {
    require(std::isfinite(eta) && eta > 0, "landscape-etas",
            fmt::format("{} is not a positive step size", eta));
  }
}

nlohmann::json to_json(const TrainConfig& c) {
  nlohmann::json j;
  for_each_field(c, [&j](const Field& field, const auto& v) { j[field.key] = v; });
  return j;
}

namespace {

[[noreturn]] void wrong_value(const char* key, std::string_view want, const nlohmann::json& v) {
  throw ValueError(
      fmt::format("train config: key '{}' must be {}, not a JSON {}", key, want, v.type_name()));
}

// Integers must be JSON integers in the member's range: nlohmann's own conversion casts a float
// such as 5e48 to int64 (undefined behaviour; the train_config fuzz target found it) and wraps a
// negative number into the unsigned seed.
template <class I>
I integer_value(const char* key, const nlohmann::json& v) {
  constexpr auto kLo = std::numeric_limits<I>::min();
  constexpr auto kHi = std::numeric_limits<I>::max();
  if (v.is_number_unsigned() && v.get<std::uint64_t>() <= static_cast<std::uint64_t>(kHi)) {
    return static_cast<I>(v.get<std::uint64_t>());
  }
  if (v.is_number_integer() && !v.is_number_unsigned() && std::is_signed_v<I> &&
      v.get<std::int64_t>() >= static_cast<std::int64_t>(kLo) &&
      v.get<std::int64_t>() <= static_cast<std::int64_t>(kHi)) {
    return static_cast<I>(v.get<std::int64_t>());
  }
  wrong_value(key, fmt::format("an integer in [{}, {}]", kLo, kHi), v);
}

void read_value(const char* key, const nlohmann::json& v, std::string& out) {
  if (!v.is_string()) {
    wrong_value(key, "a string", v);
  }
  out = v.get<std::string>();
}
void read_value(const char* key, const nlohmann::json& v, bool& out) {
  if (!v.is_boolean()) {
    wrong_value(key, "true or false", v);
  }
  out = v.get<bool>();
}
void read_value(const char* key, const nlohmann::json& v, double& out) {
  if (!v.is_number()) {
    wrong_value(key, "a number", v);
  }
  out = v.get<double>();
}
template <class I>
requires std::is_integral_v<I>
void read_value(const char* key, const nlohmann::json& v, I& out) {
  out = integer_value<I>(key, v);
}
void read_value(const char* key, const nlohmann::json& v, std::vector<std::int64_t>& out) {
  if (!v.is_array()) {
    wrong_value(key, "an array of integers", v);
  }
  out.clear();
  for (const nlohmann::json& e : v) {
    out.push_back(integer_value<std::int64_t>(key, e));
  }
}
void read_value(const char* key, const nlohmann::json& v, std::vector<double>& out) {
  if (!v.is_array()) {
    wrong_value(key, "an array of numbers", v);
  }
  out.clear();
  for (const nlohmann::json& e : v) {
    if (!e.is_number()) {
      wrong_value(key, "an array of numbers", e);
    }
    out.push_back(e.get<double>());
  }
}

}  // namespace

TrainConfig train_config_from_json(const nlohmann::json& j) {
  TrainConfig c;
  if (!j.is_object()) {
    throw ValueError("train config: expected a JSON object");
  }
  for_each_field(c, [&j](const Field& field, auto& v) {
    if (const auto it = j.find(field.key); it != j.end()) {
      read_value(field.key, *it, v);
    }
  });
  return c;
}

TrainConfig parse_train_config(std::string_view text, std::string_view source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw ValueError(fmt::format("train config: {} is not valid JSON ({})", source, e.what()));
  }
  try {
    return train_config_from_json(j);
  } catch (const ValueError& e) {
    throw ValueError(fmt::format("{} ({})", e.what(), source));
  }
}

namespace {

template <class V>
constexpr bool kIsVector = false;
template <class E>
constexpr bool kIsVector<std::vector<E>> = true;

// The flag of `field`: --<key> with '-' for '_', plus --no-<key> where the field asks for it; a
// list is comma-separated.
template <class V>
void add_field_flag(CLI::App& cmd, const Field& field, V& v) {
  std::string name = field.key;
  std::replace(name.begin(), name.end(), '_', '-');
  CLI::Option* flag = nullptr;
  if constexpr (std::is_same_v<V, bool>) {
    flag = cmd.add_flag(field.no_flag ? fmt::format("--{0},!--no-{0}", name) : "--" + name, v,
                        field.help);
  } else {
    flag = cmd.add_option("--" + name, v, field.help);
  }
  if constexpr (kIsVector<V>) {
    flag->delimiter(',');
  }
  flag->group(field.group);
}

}  // namespace

void add_train_flags(CLI::App& cmd, TrainConfig& c) {
  cmd.option_defaults()->always_capture_default();
  for_each_field(c, [&cmd](const Field& field, auto& v) { add_field_flag(cmd, field, v); });
}

void check_flag_conflicts(const CLI::App& cmd, const TrainConfig& c) {
  const auto given = [&cmd](const char* flag) { return cmd.count(flag) > 0; };
  const auto conflict = [](std::string_view flag, const std::string& why) {
    throw ValueError(fmt::format("train: --{} {}", flag, why));
  };
  for (const char* flag : {"--milestones", "--gamma"}) {
    if (given(flag) && c.schedule != "multistep") {
      conflict(flag + 2, fmt::format("applies only to --schedule multistep (the schedule is {})",
                                     c.schedule));
    }
  }
  for (const char* flag : {"--momentum", "--nesterov"}) {
    if (given(flag) && c.optimizer != "sgd") {
      conflict(flag + 2,
               fmt::format("applies only to --optimizer sgd (the optimizer is {})", c.optimizer));
    }
  }
  if (c.nesterov && c.momentum <= 0) {
    conflict("nesterov", "needs a positive --momentum");
  }
  if (c.group_size > 0 && given("--num-groups")) {
    conflict("group-size", "and --num-groups are exclusive (channels per group, or groups)");
  }
  if (c.group_size > 0 && c.norm != "group" && c.norm != "batch_channel" && c.norm != "ws_group") {
    conflict("group-size",
             fmt::format("applies only to --norm group, batch_channel or ws_group (the norm is {})",
                         c.norm));
  }
}

}  // namespace normlab
