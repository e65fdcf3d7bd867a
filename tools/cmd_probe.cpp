// tools/cmd_probe.cpp: `normlab probe`, one layer of the layer table forward and backward on the
// user's .npy arrays (tools/probe.h), writing output, grad_input, every parameter's gradient and
// every buffer as .npy files. tools/check_probe.py compares them with PyTorch.
//   normlab probe --layer batch_norm --set num_features=8 --input x.npy --grad-output gy.npy
//                 --params p/ --mode train --out out/
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <filesystem>

#include "core/error.h"
#include "core/npy.h"
#include "tools/commands.h"
#include "tools/output_dir.h"
#include "tools/probe.h"

namespace normlab {

namespace {

struct ProbeFlags {
  std::string layer;
  std::vector<std::string> settings;
  std::string input;
  std::string grad_output;
  std::string params;
  std::string mode = "train";
  std::uint64_t seed = 0;
  std::string out;
};

void run_probe_command(const ProbeFlags& f) {
  prepare_output_dir("probe", f.out);
  ProbeRequest request;
  request.layer = f.layer;
  request.options = parse_probe_settings(f.settings);
  request.train = parse_probe_mode(f.mode);
  request.seed = f.seed;
  request.input = ProbeArray{f.input, read_npy(f.input)};
  if (!f.grad_output.empty()) {
    request.grad_output = ProbeArray{f.grad_output, read_npy(f.grad_output)};
  }
  if (!f.params.empty()) {
    request.state = read_probe_state(f.params);
  }
  const auto arrays = run_probe(request);

  for (const auto& [name, t] : arrays) {
    const std::string path = (std::filesystem::path(f.out) / (name + ".npy")).string();
    write_npy(path, t);
    fmt::print("{:<28} {:<8} {}\n", path, dtype_name(t.dtype()), to_string(t.shape()));
  }
}

}  // namespace

void add_probe_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "probe",
      "run one layer forward and backward on .npy arrays and write output, input, parameter "
      "gradients and buffers as .npy files");
  auto f = std::make_shared<ProbeFlags>();
  cmd->add_option("--layer", f->layer,
                  "layer name: linear, conv2d, batch_norm, group_norm, ... (a wrong name lists "
                  "them all)")
      ->required();
  cmd->add_option("--set", f->settings,
                  "a layer option with PyTorch's keyword, key=value (repeatable), e.g. "
                  "num_features=8, eps=1e-3, normalized_shape=8x4x4, kernel_size=3");
  cmd->add_option("--input", f->input,
                  "x as .npy, float32 or float64 (the layer runs in its dtype)")
      ->required();
  cmd->add_option("--grad-output", f->grad_output,
                  "the upstream gradient dL/dy as .npy, the output's shape (default: all ones)");
  cmd->add_option("--params", f->params,
                  "a directory of <name>.npy values for the layer's parameters and buffers "
                  "(weight.npy, bias.npy, running_mean.npy, ...); others keep the default init");
  cmd->add_option("--mode", f->mode, "train or eval (eval calls module.eval() first)")
      ->capture_default_str();
  cmd->add_option("--seed", f->seed, "seed of the default init (and of dropout's mask)")
      ->capture_default_str();
  cmd->add_option("--out", f->out,
                  "output directory: output.npy, grad_input.npy, grad_<param>.npy, <buffer>.npy")
      ->required();
  cmd->callback([f] { run_probe_command(*f); });
}

}  // namespace normlab
