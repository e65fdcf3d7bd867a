// layers/norm/weight_standardization.h: Weight Standardization (Qiao et al. 2019, "Micro-Batch
// Training with Batch-Channel Normalization and Weight Standardization", arXiv:1903.10520) and the
// convolution that uses it. The weight W (O, C/G, kH, kW) is standardized per output channel o over
// its I = (C/G)·kH·kW values, the layout (1, O, I):
//   Ŵ = (W − μ_o) / sqrt(σ²_o + ε),   σ²_o biased (1/I)
// This is the paper's eq. 5–6 (ε inside the square root, as labml's docstring writes it). labml's
// code calls torch.var_mean, which is unbiased (1/(I − 1)); the authors' code divides by the
// unbiased std + 1e-5. The standardization has its own node (backward eq. WS4 = D4); the
// convolution reuses layers/conv2d's forward and backward.
// docs/normalization/weight_standardization.md
#pragma once

#include <cstdint>
#include <string>

#include "core/rng.h"
#include "layers/conv2d.h"
#include "layers/module.h"

namespace normlab {

// Ŵ from W (O, ...), eq. WS1–WS3; the node's backward is eq. WS4.
Variable weight_standardize(const Variable& w, double eps);

// The convolution's own options, and ε of the standardization.
struct WSConv2dOptions {
  Conv2dOptions conv;
  double eps = 1e-5;
};

// y = conv2d(x, Ŵ, b): a Conv2d (PyTorch's default init) whose weight is standardized at every
// forward. Parameters "weight" (the raw W) and "bias".
class WSConv2d final : public Module {
 public:
  WSConv2d(std::int64_t in_channels, std::int64_t out_channels, Size2d kernel_size, Rng& rng,
           const WSConv2dOptions& options = {});

  Variable forward(const Variable& x) override;
  Tensor forward_no_grad(const Tensor& x) override;
  std::string type_name() const override { return "WSConv2d"; }
  std::string extra_repr() const override;

  std::int64_t in_channels() const noexcept { return conv_.in_channels(); }
  Size2d kernel_size() const noexcept { return conv_.kernel_size(); }
  const Conv2dParams& params() const noexcept { return conv_.params(); }
  double eps() const noexcept { return eps_; }
  Variable& weight() noexcept { return conv_.weight(); }  // W (O, C/G, kH, kW), unstandardized
  Variable& bias() noexcept { return conv_.bias(); }      // (O), undefined without bias

 private:
  Conv2d conv_;  // holds W and b; its forward is not called, its kernels are (through conv2d)
  double eps_;
};

}  // namespace normlab
