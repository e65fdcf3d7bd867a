// layers/activation.h: elementwise activations as modules, as torch.nn's ReLU, LeakyReLU, GELU.
//   relu:        y = max(x, 0)                        dx = dy · [x > 0]       (autograd/ops.h relu)
//   leaky_relu:  y = x if x > 0 else a·x              dx = dy if x > 0 else a·dy
//   gelu:        y = x·Φ(x) = ½x(1 + erf(x/√2))       dx = dy · (Φ(x) + x·φ(x)),  φ(x) =
//   e^(−x²/2)/√(2π)
// GELU is the exact erf form (Hendrycks & Gimpel 2016, arXiv:1606.08415), PyTorch's default.
// Shapes: any; y has the shape of x.
#pragma once

#include "layers/module.h"

namespace normlab {

Tensor leaky_relu_forward(const Tensor& x, double negative_slope = 0.01);
Variable leaky_relu(const Variable& x, double negative_slope = 0.01);
Tensor gelu_forward(const Tensor& x);
Variable gelu(const Variable& x);

class ReLU final : public Module {
 public:
  Variable forward(const Variable& x) override;
  Tensor forward_no_grad(const Tensor& x) override;
  std::string type_name() const override { return "ReLU"; }
};

class LeakyReLU final : public Module {
 public:
  explicit LeakyReLU(double negative_slope = 0.01);
  Variable forward(const Variable& x) override { return leaky_relu(x, negative_slope_); }
  Tensor forward_no_grad(const Tensor& x) override {
    return leaky_relu_forward(x, negative_slope_);
  }
  std::string type_name() const override { return "LeakyReLU"; }
  std::string extra_repr() const override;
  double negative_slope() const noexcept { return negative_slope_; }

 private:
  double negative_slope_;
};

class GELU final : public Module {
 public:
  Variable forward(const Variable& x) override { return gelu(x); }
  Tensor forward_no_grad(const Tensor& x) override { return gelu_forward(x); }
  std::string type_name() const override { return "GELU"; }
};

}  // namespace normlab
