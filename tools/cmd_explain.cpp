// tools/cmd_explain.cpp: `normlab explain`, every intermediate of a normalization layer's forward
// and backward on a small input, as Markdown (tools/explain.h). The docs include its output:
//   normlab explain --layer group_norm --set num_groups=2 --set num_channels=4 --shape 1x4x1x2
#include <fmt/format.h>

#include <CLI/CLI.hpp>

#include "core/npy.h"
#include "tools/commands.h"
#include "tools/explain.h"
#include "tools/jacobian.h"

namespace normlab {

namespace {

struct ExplainFlags {
  std::string layer;
  std::vector<std::string> settings;
  std::string input;
  std::string shape;
  std::string grad_output;
  std::string params;
  std::string mode = "train";
  std::uint64_t seed = 0;
};

// The command line as the heading of the output, without the path of the binary.
std::string command_line(const ExplainFlags& f) {
  std::string s = "normlab explain --layer " + f.layer;
  for (const std::string& kv : f.settings) {
    s += " --set " + kv;
  }
  s += f.input.empty() ? fmt::format(" --shape {} --seed {}", f.shape, f.seed)
                       : " --input " + f.input;
  s += f.grad_output.empty() ? "" : " --grad-output " + f.grad_output;
  s += f.params.empty() ? "" : " --params " + f.params;
  s += f.mode == "train" ? "" : " --mode " + f.mode;
  return s;
}

}  // namespace

void add_explain_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "explain",
      "every intermediate of a normalization layer's forward and backward on a small input, as "
      "Markdown with the equation numbers of docs/normalization/, checked against the layer");
  auto f = std::make_shared<ExplainFlags>();
  cmd->add_option("--layer", f->layer,
                  "batch_norm, layer_norm, instance_norm, group_norm or rms_norm")
      ->required();
  cmd->add_option("--set", f->settings, "a layer option key=value (repeatable), as in probe");
  cmd->add_option("--input", f->input, "x as .npy (at most 256 elements)");
  cmd->add_option("--shape", f->shape, "instead of --input: x ~ N(0, 1) of this shape");
  cmd->add_option("--grad-output", f->grad_output,
                  "dL/dy as .npy (default: N(0, 1) from seed + 1, never all ones)");
  cmd->add_option("--params", f->params, "a directory of <name>.npy values, as in probe");
  cmd->add_option("--mode", f->mode, "train or eval")->capture_default_str();
  cmd->add_option("--seed", f->seed, "seed of x (with --shape), dy and the default init")
      ->capture_default_str();
  cmd->callback([f] {
    ProbeRequest request =
        jacobian_request(f->layer, f->settings, f->input, f->shape, f->seed, f->mode, f->params);
    if (!f->grad_output.empty()) {
      request.grad_output = ProbeArray{f->grad_output, read_npy(f->grad_output)};
    }
    fmt::print("{}", explain(request, command_line(*f)));
  });
}

}  // namespace normlab
