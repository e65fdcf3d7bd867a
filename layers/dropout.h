// layers/dropout.h: inverted dropout, as torch.nn.Dropout (Srivastava et al. 2014).
//   training:  m_i ~ Bernoulli(1 − p),  y_i = x_i · m_i / (1 − p),  dx_i = dy_i · m_i / (1 − p)
//              (p = 1 gives y = 0, as in PyTorch)
//   eval:      y = x
// The layer owns its Rng, seeded explicitly, so a run is reproducible; forward_no_grad() follows
// the same train/eval rule as forward(). Shapes: any; y has the shape of x.
#pragma once

#include <cstdint>

#include "core/rng.h"
#include "layers/module.h"

namespace normlab {

// Draws the scaled mask from rng when training; returns x itself otherwise.
Tensor dropout_forward(const Tensor& x, double p, bool training, Rng& rng);
Variable dropout(const Variable& x, double p, bool training, Rng& rng);

class Dropout final : public Module {
 public:
  Dropout(double p, std::uint64_t seed);
  Variable forward(const Variable& x) override { return dropout(x, p_, is_training(), rng_); }
  Tensor forward_no_grad(const Tensor& x) override {
    return dropout_forward(x, p_, is_training(), rng_);
  }
  std::string type_name() const override { return "Dropout"; }
  std::string extra_repr() const override;

  double p() const noexcept { return p_; }
  Rng& rng() noexcept { return rng_; }  // its state belongs in a checkpoint

 private:
  double p_;
  Rng rng_;
};

}  // namespace normlab
