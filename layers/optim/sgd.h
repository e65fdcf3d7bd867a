// layers/optim/sgd.h: stochastic gradient descent with momentum, dampening, Nesterov momentum and
// L2 weight decay, with torch.optim.SGD's update rule (PyTorch 1.13, _single_tensor_sgd).
#pragma once

#include "layers/optim/optimizer.h"

namespace normlab {

struct SGDOptions {
  double lr = 0.1;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;  // L2, added to the gradient; only for parameters marked decay
  bool nesterov = false;      // needs momentum > 0 and dampening == 0
};

// With g = ∇θ + λ·θ (λ = weight_decay, 0 for no-decay parameters):
//   b_1 = g                                   first step: the buffer is the gradient, no dampening
//   b_t = μ·b_{t−1} + (1 − τ)·g               later steps (μ = momentum, τ = dampening)
//   d   = g + μ·b_t  (Nesterov)  or  b_t       (or g itself when μ = 0)
//   θ  ← θ − lr·d
// State per parameter: "momentum_buffer" (only when μ > 0).
class SGD final : public Optimizer {
 public:
  SGD(std::vector<OptimParam> params, const SGDOptions& options);

  void step() override;
  std::string type_name() const override { return "SGD"; }
  const SGDOptions& options() const noexcept { return options_; }

 protected:
  std::vector<StateKey> state_keys() const override;

 private:
  SGDOptions options_;
};

}  // namespace normlab
