// tools/norm_monitor.h: the study of normalization gradients, recorded while training.
// Every normalization layer of a model is wrapped (through ModelOptions::wrap_norm) in a
// MonitoredNorm that is transparent to names, parameters, buffers and train/eval. On a recording
// step it measures, for its layer:
//   in_mean, in_std     of the input x (all elements of the batch)
//   out_mean, out_std   of the output y
//   grad_in_norm        ‖∂L/∂x‖₂, caught on the way back by an identity node in front of the layer
//   grad_out_norm       ‖∂L/∂y‖₂, caught the same way behind it
//   bn_mean_gap         BatchNorm-like layers only: RMS over channels of (μ_batch,c − μ_running,c)
//   bn_var_ratio        and the mean over channels of σ²_batch,c / σ²_running,c, both taken before
//                       the forward updates the running statistics
// Between recording steps the wrapper only forwards, so recording can stay on.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "layers/module.h"

namespace normlab {

struct NormLayerStats {
  std::string layer;  // hierarchical name, e.g. "features.1"
  std::string type;   // "GroupNorm"
  double in_mean = 0, in_std = 0, out_mean = 0, out_std = 0;
  double grad_in_norm = 0, grad_out_norm = 0;
  double bn_mean_gap = 0, bn_var_ratio = 0;  // NaN when the layer keeps no running statistics
};

class NormMonitor {
 public:
  // For ModelOptions::wrap_norm: wraps a norm layer and remembers it.
  std::unique_ptr<Module> wrap(std::unique_ptr<Module> norm);
  // Gives every wrapped layer its hierarchical name inside model; call once after building it.
  void name_layers(Module& model);

  void set_recording(bool on) noexcept { recording_ = on; }
  bool recording() const noexcept { return recording_; }
  // The statistics of the last recording step's forward and backward, one entry per layer.
  std::vector<NormLayerStats> collect() const;

 private:
  friend class MonitoredNorm;
  bool recording_ = false;
  std::vector<NormLayerStats*> slots_;  // owned by the wrappers, which the model owns
};

}  // namespace normlab
