// tools/cmd_jacobian.cpp: `normlab jacobian`, the full Jacobian ∂y/∂x of one layer of the layer
// table from its hand-written backward (tools/jacobian.h), with the same option names and
// parameter files as `normlab probe`:
//   normlab jacobian --layer batch_norm --set num_features=3 --shape 2x3x4x4 --seed 1 --out j/
// writes j/jacobian.npy (numel(y) x numel(x), float64), j/jacobian.png, j/spectrum.csv and
// j/x.npy (the input), and prints the summary. tools/check_jacobian.py compares with PyTorch.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/npy.h"
#include "core/random.h"
#include "layers/layer_options.h"
#include "tools/commands.h"
#include "tools/jacobian.h"

namespace normlab {

namespace {

struct JacobianFlags {
  std::string layer;
  std::vector<std::string> settings;
  std::string input;
  std::string shape;
  std::string params;
  std::string mode = "train";
  std::uint64_t seed = 0;
  std::string out;
  bool numeric = false;
};

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  if (!f) {
    throw IoError(fmt::format("jacobian: cannot write {}", path.string()));
  }
}

void run_jacobian_command(const JacobianFlags& f) {
  ProbeRequest request =
      jacobian_request(f.layer, f.settings, f.input, f.shape, f.seed, f.mode, f.params);
  const Jacobian jac = compute_jacobian(request);
  const std::optional<ReductionSets> sets = [&] {
    const std::unique_ptr<Module> layer = make_probe_layer(request, DType::f64);
    return reduction_sets(request.layer, request.options, *layer, jac.x);
  }();
  const Spectrum spectrum = jacobian_spectrum(jac);

  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(f.out, ec);
  if (ec) {
    throw IoError(
        fmt::format("jacobian: cannot create output directory {}: {}", f.out, ec.message()));
  }
  const fs::path dir(f.out);
  write_npy((dir / "jacobian.npy").string(),
            Tensor::from_vector({jac.rows, jac.cols}, jac.J, DType::f64));
  write_npy((dir / "x.npy").string(), jac.x);
  write_text(dir / "spectrum.csv", spectrum_csv(spectrum));
  const std::string title =
      fmt::format("d y / d x of {} ({}), x {}", f.layer, f.mode, to_string(jac.x.shape()));
  const Image img = render_jacobian(jac, sets, title);
  write_png(dir / "jacobian.png", img.pixels.data(), img.C, img.H, img.W);

  fmt::print("{}", jacobian_summary(jac, spectrum, sets, f.layer, request.train));
  if (f.numeric) {
    constexpr double kStep = 1e-6;
    const std::vector<double> num = numeric_jacobian(request, kStep);
    double err = 0;
    for (std::size_t i = 0; i < num.size(); ++i) {
      err = std::max(err, std::abs(num[i] - jac.J[i]));
    }
    fmt::print(
        "numeric: central differences (h = {:g}) differ by at most {:.3g} ({:.3g} of "
        "max|J|)\n",
        kStep, err, jac.max_abs() > 0 ? err / jac.max_abs() : err);
    if (f.layer == "batch_renorm" && request.train) {
      fmt::print(
          "numeric: batch_renorm's backward holds r and d constant (BRN3, BRN4), so the "
          "two differ wherever r or d is not clipped\n");
    }
  }
  fmt::print("wrote {}/jacobian.npy, jacobian.png, spectrum.csv, x.npy\n", f.out);
}

}  // namespace

ProbeRequest jacobian_request(const std::string& layer, const std::vector<std::string>& settings,
                              const std::string& input, const std::string& shape,
                              std::uint64_t seed, const std::string& mode,
                              const std::string& params) {
  ProbeRequest request;
  request.layer = layer;
  request.options = parse_probe_settings(settings);
  request.train = parse_probe_mode(mode);
  request.seed = seed;
  if (input.empty() == shape.empty()) {
    throw ValueError(
        fmt::format("{}: give exactly one of --input x.npy and --shape NxCxHxW", layer));
  }
  if (!input.empty()) {
    request.input = ProbeArray{input, read_npy(input)};
  } else {
    const LayerOptions shape_option{{"shape", shape}};  // OptionReader keeps a reference to it
    OptionReader reader("--shape", shape_option);
    Rng rng(seed);
    request.input =
        ProbeArray{"--shape " + shape, randn(reader.required_shape("shape"), DType::f64, rng)};
  }
  if (!params.empty()) {
    request.state = read_probe_state(params);
  }
  return request;
}

void add_jacobian_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "jacobian",
      "the full Jacobian dy/dx of one layer in float64, one backward per output element: "
      "jacobian.npy, jacobian.png, spectrum.csv and a summary of its structure");
  auto f = std::make_shared<JacobianFlags>();
  cmd->add_option("--layer", f->layer, "layer name, as in normlab probe")->required();
  cmd->add_option("--set", f->settings, "a layer option key=value (repeatable), as in probe");
  cmd->add_option("--input", f->input, "x as .npy (converted to float64)");
  cmd->add_option("--shape", f->shape,
                  "instead of --input: x ~ N(0, 1) of this shape, e.g. 2x3x4x4");
  cmd->add_option("--params", f->params,
                  "a directory of <name>.npy values for parameters and buffers, as in probe");
  cmd->add_option("--mode", f->mode, "train or eval")->capture_default_str();
  cmd->add_option("--seed", f->seed, "seed of x (with --shape) and of the default init")
      ->capture_default_str();
  cmd->add_flag("--numeric", f->numeric,
                "also compute the central-difference Jacobian and print the largest difference");
  cmd->add_option("--out", f->out, "output directory")->required();
  cmd->callback([f] { run_jacobian_command(*f); });
}

}  // namespace normlab
