// layers/norm/local_response_norm.h: Local Response Normalization across channels (Krizhevsky,
// Sutskever & Hinton 2012, section 3.3; Caffe's ACROSS_CHANNELS), with PyTorch's
// nn.LocalResponseNorm semantics for x (N, C, *):
//   y_c = x_c · (k + α/n · Σ_{c' ∈ W(c)} x_{c'}²)^(−β),   W(c) = [c − ⌊n/2⌋, c + ⌊(n−1)/2⌋] ∩ [0,
//   C)
// The sum is divided by the window size n even where the window is cut at the edges (PyTorch's
// zero padding with count_include_pad). No parameters. docs/normalization/local_response_norm.md
#pragma once

#include <cstdint>
#include <string>

#include "layers/module.h"

namespace normlab {

struct LocalResponseNormOptions {
  double alpha = 1e-4;
  double beta = 0.75;
  double k = 1.0;
};

// eq. LRN1–LRN2; the node's backward is eq. LRN3–LRN5.
Variable local_response_norm(const Variable& x, std::int64_t size,
                             const LocalResponseNormOptions& options = {});

class LocalResponseNorm final : public Module {
 public:
  explicit LocalResponseNorm(std::int64_t size, const LocalResponseNormOptions& options = {});

  Variable forward(const Variable& x) override;
  Tensor forward_no_grad(const Tensor& x) override;
  std::string type_name() const override { return "LocalResponseNorm"; }
  std::string extra_repr() const override;

  std::int64_t size() const noexcept { return size_; }
  const LocalResponseNormOptions& options() const noexcept { return options_; }

 private:
  std::int64_t size_;
  LocalResponseNormOptions options_;
};

}  // namespace normlab
