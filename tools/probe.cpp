// tools/probe.cpp: one layer forward and backward on given arrays (tools/probe.h).
#include "tools/probe.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string_view>

#include "autograd/variable.h"
#include "core/error.h"
#include "core/npy.h"
#include "core/rng.h"
#include "layers/layer_table.h"
#include "layers/module.h"

namespace normlab {

namespace {

// Parameters first, then buffers, each in the module's order; the same order as the outputs.
std::vector<std::pair<std::string, Shape>> state_shapes(Module& layer) {
  std::vector<std::pair<std::string, Shape>> out;
  for (const auto& [name, p] : layer.named_parameters()) {
    out.emplace_back(name, p->shape());
  }
  for (const auto& [name, b] : layer.named_buffers()) {
    out.emplace_back(name, b->shape());
  }
  return out;
}

// Checks every given array against the layer's names and shapes (naming the file), then loads
// them all; nothing is loaded if one is wrong.
void load_state(Module& layer, std::string_view layer_name,
                const std::map<std::string, ProbeArray>& state) {
  const auto expected = state_shapes(layer);
  StateDict values;
  for (const auto& [key, array] : state) {
    const auto it = std::find_if(expected.begin(), expected.end(),
                                 [&name = key](const auto& e) { return e.first == name; });
    if (it == expected.end()) {
      std::string valid;
      for (const auto& e : expected) {
        valid += (valid.empty() ? "" : ", ") + e.first + ".npy";
      }
      throw ValueError(fmt::format("probe: {} is not a parameter or buffer of {} ({})", array.file,
                                   layer_name, valid.empty() ? "it has none" : "valid: " + valid));
    }
    if (!array.value.defined()) {
      throw ValueError(fmt::format("probe: {} holds no array", array.file));
    }
    if (array.value.shape() != it->second) {
      throw ShapeError(fmt::format("probe: {} has shape {} but {}'s {} has shape {}", array.file,
                                   to_string(array.value.shape()), layer_name, key,
                                   to_string(it->second)));
    }
    values[key] = array.value;
  }
  layer.load_state_dict(values, /*strict=*/false);  // copies in place, converting the dtype
}

// dy for y: all ones when not given; otherwise y's shape, any floating dtype (converted).
Tensor upstream_gradient(const ProbeArray& grad_output, const Variable& y,
                         std::string_view layer_name) {
  const Tensor& dy = grad_output.value;
  if (!dy.defined()) {
    return Tensor::ones(y.shape(), y.dtype());
  }
  if (dy.shape() != y.shape()) {
    throw ShapeError(fmt::format("probe: {} has shape {} but the output of {} has shape {}",
                                 grad_output.file, to_string(dy.shape()), layer_name,
                                 to_string(y.shape())));
  }
  if (!is_floating(dy.dtype())) {
    throw DTypeError(fmt::format("probe: {} has dtype {}; a gradient must be float32 or float64",
                                 grad_output.file, dtype_name(dy.dtype())));
  }
  return dy.to(y.dtype()).contiguous();
}

Tensor grad_or_zeros(const Variable& v) {
  return v.grad().defined() ? v.grad() : Tensor::zeros(v.shape(), v.dtype());
}

}  // namespace

std::vector<std::pair<std::string, Tensor>> run_probe(const ProbeRequest& request) {
  const Tensor& input = request.input.value;
  if (!input.defined()) {
    throw ValueError("probe: no input array given");
  }
  if (input.dtype() != DType::f32 && input.dtype() != DType::f64) {
    throw DTypeError(fmt::format(
        "probe: {} has dtype {}; the probe runs a layer in float32 or float64, the input's dtype "
        "(x: {})",
        request.input.file, dtype_name(input.dtype()), to_string(input.shape())));
  }
  Rng rng(request.seed);
  const std::unique_ptr<Module> layer =
      make_layer(request.layer, request.options, input.dtype(), rng);
  load_state(*layer, request.layer, request.state);
  layer->train(request.train);

  // The Variable path, as in PyTorch: x a leaf that requires a gradient, y = layer(x), y.backward.
  const Variable x(input.contiguous().clone(), /*requires_grad=*/true);
  const Variable y = layer->forward(x);
  y.backward(upstream_gradient(request.grad_output, y, request.layer));

  std::vector<std::pair<std::string, Tensor>> out;
  out.emplace_back("output", y.data());
  out.emplace_back("grad_input", grad_or_zeros(x));
  for (const auto& [name, p] : layer->named_parameters()) {
    out.emplace_back("grad_" + name, grad_or_zeros(*p));
  }
  for (const auto& [name, b] : layer->named_buffers()) {
    out.emplace_back(name, *b);
  }
  return out;
}

std::map<std::string, ProbeArray> read_probe_state(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw IoError(
        fmt::format("probe: parameter directory {} does not exist or is not a directory", dir));
  }
  std::map<std::string, ProbeArray> state;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    const fs::path& path = entry.path();
    if (!entry.is_regular_file() || path.extension() != ".npy") {
      throw ValueError(fmt::format(
          "probe: {} in the parameter directory is not a .npy file (expected <name>.npy for a "
          "parameter or buffer of the layer)",
          path.string()));
    }
    state[path.stem().string()] = ProbeArray{path.string(), read_npy(path.string())};
  }
  return state;
}

LayerOptions parse_probe_settings(const std::vector<std::string>& settings) {
  LayerOptions options;
  for (const std::string& s : settings) {
    const std::size_t eq = s.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw ValueError(fmt::format(
          "probe: --set '{}' is not key=value (e.g. --set num_features=8 --set eps=1e-3)", s));
    }
    std::string key = s.substr(0, eq);
    if (options.count(key) != 0) {
      throw ValueError(fmt::format("probe: --set {} is given twice ('{}' and '{}')", key,
                                   options[key], s.substr(eq + 1)));
    }
    options.emplace(std::move(key), s.substr(eq + 1));
  }
  return options;
}

bool parse_probe_mode(const std::string& mode) {
  if (mode == "train") {
    return true;
  }
  if (mode == "eval") {
    return false;
  }
  throw ValueError(fmt::format("probe: unknown mode '{}' (valid: train, eval)", mode));
}

}  // namespace normlab
