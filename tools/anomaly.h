// tools/anomaly.h: `normlab train --detect-anomaly`, PyTorch's detect_anomaly for normlab.
// Installed on a model, it checks on every training step
//   forward   the output of every module a container runs (Sequential, ResidualBlock, Network);
//             leaf modules are single ops (conv2d, group_norm, relu, ...), and a container's own
//             ops (the residual add) are checked at the container's output
//   backward  every gradient every op returns (to its inputs and to the parameters), right after
//             that op's backward and before it is added anywhere
// and stops at the first non-finite value with one line naming the module by its hierarchical
// name (features.5), its type, the op, the pass and the step. Backward ops are attributed to the
// innermost module whose output gradient passed last: an identity node behind every module output
// marks where the backward pass enters that module.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "autograd/engine.h"
#include "core/error.h"
#include "layers/module.h"

namespace normlab {

class AnomalyDetector final : public ForwardObserver {
 public:
  // Names every module of model (the model itself is "model") and installs itself on it.
  explicit AnomalyDetector(Module& model);
  ~AnomalyDetector() override;  // uninstalls itself

  void start_step(std::int64_t step);  // the step the reports name
  // Checks y; ValueError on a non-finite value. Returns y behind an identity node that marks
  // where the backward pass enters child.
  Variable after_forward(const Module& child, const Variable& y) override;
  // Checks a value computed outside the model (the loss), named by `what`.
  void check_forward(const Tensor& t, const std::string& what, std::string_view op) const;
  // For run_backward: checks every gradient a node returns.
  const BackwardObserver& backward_observer() const noexcept { return backward_; }

  // For the identity nodes: the backward pass has reached child's output.
  void enter_backward(const Module* child) noexcept { backward_module_ = child; }

 private:
  std::string name_of(const Module* m) const;
  Module& model_;
  std::unordered_map<const Module*, std::string> names_;
  std::int64_t step_ = 0;
  const Module* backward_module_ = nullptr;
  BackwardObserver backward_;
};

// The first element of t that is NaN or infinite, as "nan at [0, 3, 1, 1]"; empty if all are
// finite.
std::string first_non_finite(const Tensor& t);

}  // namespace normlab
