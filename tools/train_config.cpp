#include "tools/train_config.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "core/error.h"
#include "layers/norm/norm_kind.h"
#include "models/model.h"

namespace normlab {

namespace {

// One list of (json key, member) pairs keeps to_json and from_json in step.
template <class J, class C, class F>
void for_each_field(J& j, C& c, F&& f) {
  f(j, "model", c.model);
  f(j, "norm", c.norm);
  f(j, "num_groups", c.num_groups);
  f(j, "group_size", c.group_size);
  f(j, "norm_eps", c.norm_eps);
  f(j, "norm_momentum", c.norm_momentum);
  f(j, "width", c.width);
  f(j, "zero_init_gamma", c.zero_init_gamma);
  f(j, "data", c.data);
  f(j, "image_size", c.image_size);
  f(j, "train_subset", c.train_subset);
  f(j, "test_subset", c.test_subset);
  f(j, "augment", c.augment);
  f(j, "batch_size", c.batch_size);
  f(j, "epochs", c.epochs);
  f(j, "optimizer", c.optimizer);
  f(j, "lr", c.lr);
  f(j, "lr_base_batch", c.lr_base_batch);
  f(j, "momentum", c.momentum);
  f(j, "nesterov", c.nesterov);
  f(j, "weight_decay", c.weight_decay);
  f(j, "decay_norm_and_bias", c.decay_norm_and_bias);
  f(j, "schedule", c.schedule);
  f(j, "milestones", c.milestones);
  f(j, "gamma", c.gamma);
  f(j, "warmup_epochs", c.warmup_epochs);
  f(j, "seed", c.seed);
  f(j, "threads", c.threads);
  f(j, "out", c.out);
  f(j, "eval_batch_size", c.eval_batch_size);
  f(j, "log_every", c.log_every);
  f(j, "stats_every", c.stats_every);
  f(j, "checkpoint_every", c.checkpoint_every);
  f(j, "progress", c.progress);
  f(j, "stop_after_steps", c.stop_after_steps);
  f(j, "landscape_every", c.landscape_every);
  f(j, "landscape_etas", c.landscape_etas);
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
  for_each_field(j, c, [](nlohmann::json& out, const char* key, const auto& v) { out[key] = v; });
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
  for_each_field(j, c, [](const nlohmann::json& in, const char* key, auto& v) {
    if (const auto it = in.find(key); it != in.end()) {
      read_value(key, *it, v);
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

void add_train_flags(CLI::App& cmd, TrainConfig& c) {
  cmd.option_defaults()->always_capture_default();
  cmd.add_option("--model", c.model, "model: tiny | vgg | resnet20")->group("Model");
  cmd.add_option("--norm", c.norm,
                 "normalization: none | batch | group | layer | instance | batch_renorm | "
                 "batch_channel | ws_group | sync_batch (BatchNorm over the global batch of every "
                 "rank; batch normalizes each rank's own shard)")
      ->group("Model");
  cmd.add_option("--num-groups", c.num_groups,
                 "groups of group/batch_channel/ws_group (clamped to a divisor of each layer's "
                 "channels)")
      ->group("Model");
  cmd.add_option("--group-size", c.group_size,
                 "channels per group of group/batch_channel/ws_group in every layer, so G = C / "
                 "group-size varies with the layer (0: use --num-groups; exclusive with it)")
      ->group("Model");
  cmd.add_option("--norm-eps", c.norm_eps, "epsilon of every normalization layer")->group("Model");
  cmd.add_option("--norm-momentum", c.norm_momentum, "momentum of running statistics")
      ->group("Model");
  cmd.add_option("--width", c.width, "channel multiplier (use 0.25 for vgg on a CPU)")
      ->group("Model");
  cmd.add_flag("--zero-init-gamma", c.zero_init_gamma,
               "zero the last normalization gamma of each residual block (resnet20)")
      ->group("Model");
  cmd.add_option("--data", c.data,
                 "dataset: fashion-mnist [DIR] | mnist DIR | cifar10 DIR|ARCHIVE | cifar100 "
                 "DIR|ARCHIVE | folder DIR (write 'cifar10:DIR' or quote the space)")
      ->group("Data");
  cmd.add_option("--image-size", c.image_size, "image size for folder datasets")->group("Data");
  cmd.add_option("--train-subset", c.train_subset, "use only the first N training images (0: all)")
      ->group("Data");
  cmd.add_option("--test-subset", c.test_subset, "use only the first N test images (0: all)")
      ->group("Data");
  cmd.add_flag("--augment,!--no-augment", c.augment,
               "random crop (zero padding of size/8) and horizontal flip while training")
      ->group("Data");
  cmd.add_option("--batch-size", c.batch_size,
                 "images per training step: the global batch (under mpirun -np K each rank "
                 "takes batch-size/K of it)")
      ->group("Optimization");
  cmd.add_option("--epochs", c.epochs, "passes over the training set")->group("Optimization");
  cmd.add_option("--optimizer", c.optimizer, "sgd | adam | adamw")->group("Optimization");
  cmd.add_option("--lr", c.lr, "learning rate (for --lr-base-batch images when that is set)")
      ->group("Optimization");
  cmd.add_option("--lr-base-batch", c.lr_base_batch,
                 "linear scaling rule: the lr used is lr * batch-size / lr-base-batch (0: off)")
      ->group("Optimization");
  cmd.add_option("--momentum", c.momentum, "SGD momentum")->group("Optimization");
  cmd.add_flag("--nesterov", c.nesterov, "Nesterov momentum")->group("Optimization");
  cmd.add_option("--weight-decay", c.weight_decay, "weight decay")->group("Optimization");
  cmd.add_flag("--decay-norm-and-bias", c.decay_norm_and_bias,
               "also apply weight decay to biases and normalization gamma/beta")
      ->group("Optimization");
  cmd.add_option("--schedule", c.schedule, "lr schedule: constant | multistep | cosine")
      ->group("Optimization");
  cmd.add_option("--milestones", c.milestones, "epochs at which multistep multiplies lr by gamma")
      ->delimiter(',')
      ->group("Optimization");
  cmd.add_option("--gamma", c.gamma, "multistep factor")->group("Optimization");
  cmd.add_option("--warmup-epochs", c.warmup_epochs, "linear warm-up from lr/10 over these epochs")
      ->group("Optimization");
  cmd.add_option("--seed", c.seed, "seed of the init, the shuffling and the augmentation")
      ->group("Run");
  cmd.add_option("--threads", c.threads, "threads for GEMM and kernels (0: every core)")
      ->group("Run");
  cmd.add_option("--out", c.out, "run directory (default: runs/<model>-<norm>-b<batch>-s<seed>)")
      ->group("Run");
  cmd.add_option("--eval-batch-size", c.eval_batch_size, "images per evaluation batch")
      ->group("Run");
  cmd.add_option("--log-every", c.log_every, "steps between progress lines when not on a terminal")
      ->group("Run");
  cmd.add_option("--stats-every", c.stats_every,
                 "steps between records of normalization statistics and gradient norms (0: off)")
      ->group("Run");
  cmd.add_option("--checkpoint-every", c.checkpoint_every,
                 "steps between mid-epoch checkpoints (0: at epoch ends only)")
      ->group("Run");
  cmd.add_flag("--progress,!--no-progress", c.progress, "progress bar when stdout is a terminal")
      ->group("Run");
  cmd.add_option("--stop-after-steps", c.stop_after_steps,
                 "stop after this many steps without a final checkpoint, as if killed (0: off)")
      ->group("Run");
  cmd.add_option("--landscape-every", c.landscape_every,
                 "steps between loss-landscape measurements along the gradient, written to "
                 "landscape.csv (Santurkar et al. 2018; 0: off)")
      ->group("Diagnostics");
  cmd.add_option("--landscape-etas", c.landscape_etas,
                 "step sizes of the landscape measurements, comma-separated (default: lr * "
                 "0.25,0.5,1,2,4 with the lr after --lr-base-batch scaling)")
      ->delimiter(',')
      ->group("Diagnostics");
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
