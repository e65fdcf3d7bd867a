// tools/probe.h: `normlab probe` as a library function (tools/cmd_probe.cpp is its CLI). One layer
// of the layer table (layers/layer_table.h) runs forward and backward on given arrays through the
// Variable path, as a PyTorch user would:
//   x = leaf(input, requires_grad);  y = layer.forward(x);  y.backward(dy)
// and every result is returned by the name of its .npy file. tools/check_probe.py compares these
// files with PyTorch.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "layers/layer_options.h"
#include "layers/module.h"

namespace normlab {

// An array and the file it came from; the file names it in error messages.
struct ProbeArray {
  std::string file;
  Tensor value;  // undefined: not given
};

struct ProbeRequest {
  std::string layer;       // a name of the layer table: "batch_norm", "conv2d", ...
  LayerOptions options;    // PyTorch's keyword names: {"num_features": "8", "eps": "1e-3"}
  bool train = true;       // false: module.eval() before the call
  std::uint64_t seed = 0;  // the default init of parameters and dropout's mask
  ProbeArray input;        // x, float32 or float64; the layer is built in this dtype
  ProbeArray grad_output;  // dy, the shape of y; undefined: all ones. Converted to y's dtype.
  // Parameter and buffer values by the module's names ("weight", "running_mean",
  // "batch_norm.running_var"); the rest keep the layer's default init. Converted to their dtype.
  std::map<std::string, ProbeArray> state;
};

// The arrays of one call, in this order, each under the stem of its file name:
//   output, grad_input, grad_<parameter> for every parameter, <buffer> for every buffer (after
//   the call, so running statistics include its update).
// A parameter the backward did not reach gets a zero gradient. Errors: unknown layer, option key
// or value (ValueError listing the valid ones, from the layer table); an input that is not float32
// or float64 (DTypeError); a state name that is not a parameter or buffer of the layer (ValueError
// listing them) or of the wrong shape, and a grad_output whose shape is not y's (ShapeError naming
// the file and both shapes).
std::vector<std::pair<std::string, Tensor>> run_probe(const ProbeRequest& request);

// The layer of a request, built in `dtype` from request.seed, with request.state loaded and
// train(request.train) set: what run_probe calls, for `normlab jacobian` and `normlab explain`.
// The errors of run_probe for the layer, its options and the state.
std::unique_ptr<Module> make_probe_layer(const ProbeRequest& request, DType dtype);

// Every entry of dir must be a "<name>.npy" file; ProbeRequest::state keyed by <name>. IoError for
// a missing dir or unreadable file, ValueError for an entry that is not a .npy file.
std::map<std::string, ProbeArray> read_probe_state(const std::string& dir);

// "key=value" settings (the --set flags) to layer options. ValueError for a setting without '=' or
// with an empty key, and for a key given twice.
LayerOptions parse_probe_settings(const std::vector<std::string>& settings);

// "train" → true, "eval" → false; ValueError otherwise, listing both.
bool parse_probe_mode(const std::string& mode);

}  // namespace normlab
