// layers/optim/adam.h: Adam (Kingma & Ba 2015, arXiv:1412.6980) with L2 weight decay, and AdamW
// (Loshchilov & Hutter 2019, arXiv:1711.05101) with decoupled weight decay, both optionally with
// AMSGrad (Reddi et al. 2018), with torch.optim.Adam/AdamW's update rule (PyTorch 1.13,
// _single_tensor_adam / _single_tensor_adamw), including its bias correction.
#pragma once

#include "layers/optim/optimizer.h"

namespace normlab {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  // Adam: L2 added to the gradient; AdamW: decoupled
  bool amsgrad = false;
};

// The two share every line but where the decay enters. With t the parameter's step count:
//   Adam:   g = ∇θ + λ·θ                    AdamW:  θ ← θ·(1 − lr·λ),  g = ∇θ
//   m_t = β1·m_{t−1} + (1 − β1)·g            v_t = β2·v_{t−1} + (1 − β2)·g²
//   v̂  = v_t, or v̂_t = max(v̂_{t−1}, v_t) with AMSGrad
//   θ  ← θ − (lr / (1 − β1^t)) · m_t / (√v̂ / √(1 − β2^t) + ε)
// λ = weight_decay, 0 for no-decay parameters. State per parameter: "step" (int64 scalar),
// "exp_avg" (m), "exp_avg_sq" (v) and, with AMSGrad, "max_exp_avg_sq" (v̂); torch's names.
class AdamFamily : public Optimizer {
 public:
  void step() override;
  const AdamOptions& options() const noexcept { return options_; }

 protected:
  AdamFamily(std::vector<OptimParam> params, const AdamOptions& options, bool decoupled,
             std::string_view op);
  std::vector<StateKey> state_keys() const override;

 private:
  AdamOptions options_;
  bool decoupled_;  // AdamW
};

class Adam final : public AdamFamily {
 public:
  Adam(std::vector<OptimParam> params, const AdamOptions& options)
      : AdamFamily(std::move(params), options, false, "adam") {}
  std::string type_name() const override { return "Adam"; }
};

// torch.optim.AdamW defaults weight_decay to 1e-2; pass it explicitly in AdamOptions.
class AdamW final : public AdamFamily {
 public:
  AdamW(std::vector<OptimParam> params, const AdamOptions& options)
      : AdamFamily(std::move(params), options, true, "adamw") {}
  std::string type_name() const override { return "AdamW"; }
};

}  // namespace normlab
