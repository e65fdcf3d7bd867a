// tools/train_config.h: everything that defines a training run, as one struct.
// It is written to <run>/config.json and into every checkpoint, read back by --resume and
// `normlab eval`, and bound to the flags of `normlab train` (and of `normlab sweep`, which varies
// some of them).
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace CLI {  // NOLINT(readability-identifier-naming): CLI11 names its namespace so
class App;
}

namespace normlab {

struct TrainConfig {
  // Model.
  std::string model = "tiny";  // tiny | vgg | resnet20
  std::string norm = "group";  // none | batch | group | layer | instance | batch_renorm | ...
  std::int64_t num_groups = 32;
  std::int64_t group_size = 0;  // > 0: channels per group in every layer, instead of num_groups
  double norm_eps = 1e-5;
  double norm_momentum = 0.1;
  double width = 1.0;
  std::string dtype = "float32";  // float32 | float64: of the weights, activations and inputs
  bool zero_init_gamma = false;
  // Data.
  std::string data = "fashion-mnist";
  std::int64_t image_size = 32;   // for `folder` datasets only
  std::int64_t train_subset = 0;  // > 0: only the first n training images (quick runs)
  std::int64_t test_subset = 0;
  bool augment = false;  // random crop (padding size/8) + horizontal flip on the training split
  // Optimization.
  std::int64_t batch_size = 64;
  std::int64_t epochs = 4;
  std::string optimizer = "sgd";  // sgd | adam | adamw
  double lr = 0.05;
  std::int64_t lr_base_batch = 0;  // > 0: lr is for this batch size and scales linearly
  double momentum = 0.9;
  bool nesterov = false;
  double weight_decay = 5e-4;
  bool decay_norm_and_bias = false;      // false: biases and norm γ/β get no weight decay
  std::string schedule = "cosine";       // constant | multistep | cosine
  std::vector<std::int64_t> milestones;  // epochs, for multistep
  double gamma = 0.1;
  double warmup_epochs = 0.0;
  // Run.
  std::uint64_t seed = 0;
  int threads = 0;  // 0: every core
  std::string out;  // run directory; empty: runs/<model>-<norm>-b<batch>-s<seed>
  std::int64_t eval_batch_size = 500;
  std::int64_t log_every = 50;         // steps between plain progress lines
  std::int64_t stats_every = 50;       // steps between normalization-statistics records; 0: off
  std::int64_t checkpoint_every = 0;   // steps between mid-epoch checkpoints; 0: epoch ends only
  bool progress = true;                // progress bar on a terminal
  std::int64_t stop_after_steps = 0;   // > 0: stop there without a final checkpoint, as a crash
                                       // would (to test and demonstrate --resume)
  std::int64_t landscape_every = 0;    // steps between landscape measurements; 0: off
  std::vector<double> landscape_etas;  // their step sizes; empty: tools/landscape.h's default

  double effective_lr() const;  // lr, scaled by batch_size / lr_base_batch when that is set
  std::string default_out() const;
  void validate() const;  // ValueError naming the flag for a value out of range
};

nlohmann::json to_json(const TrainConfig& c);
TrainConfig train_config_from_json(const nlohmann::json& j);  // missing keys keep defaults
// The same from JSON text (a config.json, a checkpoint's "config" metadata); `source` names it in
// errors. ValueError for text that is not JSON, not an object, or holds a key of the wrong type.
TrainConfig parse_train_config(std::string_view text, std::string_view source);

// Adds every flag of TrainConfig to cmd, each with its help and default.
void add_train_flags(CLI::App& cmd, TrainConfig& c);

// ValueError naming both flags when flags given on cmd (parsed into c by add_train_flags)
// contradict each other: --milestones or --gamma without --schedule multistep, --momentum or
// --nesterov with adam/adamw, --nesterov with --momentum 0, --group-size with --num-groups or with
// a norm without groups.
void check_flag_conflicts(const CLI::App& cmd, const TrainConfig& c);

}  // namespace normlab
