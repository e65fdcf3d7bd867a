// layers/linear.h: the fully connected layer, as torch.nn.Linear.
//   forward:  y = x Wᵀ + b            x: (*, in), W: (out, in), b: (out), y: (*, out)
//   backward: dx = dy W,  dW = dyᵀ x,  db = Σ_rows dy      (rows: every leading index of x)
// All three products are GEMMs over x viewed as (M, in), M = ∏ leading dims.
// Default init (PyTorch): W ~ U(−1/√in, 1/√in) via kaiming_uniform(a = √5); b ~ U(−1/√in, 1/√in).
#pragma once

#include <cstdint>

#include "core/rng.h"
#include "layers/module.h"

namespace normlab {

// Tensor level. b may be undefined (no bias). x: (*, in), w: (out, in), b: (out) → (*, out).
Tensor linear_forward(const Tensor& x, const Tensor& w, const Tensor& b);
// Variable level; records a node when any of x, w, b requires a gradient.
Variable linear(const Variable& x, const Variable& w, const Variable& b);

struct LinearOptions {
  bool bias = true;
  DType dtype = DType::f32;
};

class Linear final : public Module {
 public:
  Linear(std::int64_t in_features, std::int64_t out_features, Rng& rng,
         const LinearOptions& options = {});

  Variable forward(const Variable& x) override;
  Tensor forward_no_grad(const Tensor& x) override;
  std::string type_name() const override { return "Linear"; }
  std::string extra_repr() const override;

  std::int64_t in_features() const noexcept { return in_features_; }
  std::int64_t out_features() const noexcept { return out_features_; }
  Variable& weight() noexcept { return weight_; }  // (out, in)
  Variable& bias() noexcept { return bias_; }      // (out), undefined without bias

 private:
  std::int64_t in_features_, out_features_;
  Variable weight_, bias_;
};

}  // namespace normlab
