// layers/conv2d.h: 2-D convolution (cross-correlation), as torch.nn.Conv2d.
//   y[n][o][oh][ow] = b[o] + Σ_{c ∈ group(o)} Σ_{i,j} W[o][c − g·C/G][i][j] ·
//                     x[n][c][oh·s_h − p_h + i·d_h][ow·s_w − p_w + j·d_w]          (0 in the
//                     padding)
// x: (N, C, H, W), W: (O, C/G, kH, kW), b: (O), y: (N, O, oH, oW), oH = ⌊(H + 2p − d(k−1) − 1)/s⌋
// + 1. Computed per image n and group g as one GEMM over im2col's columns (core/im2col.h):
//   col_g = im2col(x[n, group g])                    (K, L),  K = (C/G)·kH·kW,  L = oH·oW
//   forward:  y[n, g] = W_g · col_g + b              W_g: (O/G, K)
//   backward: dW_g += dy[n, g] · col_gᵀ,   dx[n, g] = col2im(W_gᵀ · dy[n, g]),   db_o = Σ_{n,l} dy
// Default init (PyTorch): W ~ U(±1/√fan_in) via kaiming_uniform(a = √5), b ~ U(±1/√fan_in),
// fan_in = (C/G)·kH·kW.
#pragma once

#include <cstdint>

#include "core/im2col.h"
#include "core/rng.h"
#include "layers/layer_util.h"
#include "layers/module.h"

namespace normlab {

// The geometry of a convolution, without the weights.
struct Conv2dParams {
  Size2d stride = 1;
  Size2d padding = 0;
  Size2d dilation = 1;
  std::int64_t groups = 1;
};

// Tensor level. b may be undefined. x: (N, C, H, W), w: (O, C/G, kH, kW), b: (O).
Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b,
                      const Conv2dParams& params = {});
// Variable level; records a node when any of x, w, b requires a gradient.
Variable conv2d(const Variable& x, const Variable& w, const Variable& b,
                const Conv2dParams& params = {});

struct Conv2dOptions {
  Size2d stride = 1;
  Size2d padding = 0;
  Size2d dilation = 1;
  std::int64_t groups = 1;
  bool bias = true;
  DType dtype = DType::f32;
};

class Conv2d final : public Module {
 public:
  Conv2d(std::int64_t in_channels, std::int64_t out_channels, Size2d kernel_size, Rng& rng,
         const Conv2dOptions& options = {});

  Variable forward(const Variable& x) override;
  Tensor forward_no_grad(const Tensor& x) override;
  std::string type_name() const override { return "Conv2d"; }
  std::string extra_repr() const override;  // "3, 16, kernel_size=3, stride=2, padding=1"

  std::int64_t in_channels() const noexcept { return in_channels_; }
  std::int64_t out_channels() const noexcept { return out_channels_; }
  Size2d kernel_size() const noexcept { return kernel_size_; }
  const Conv2dParams& params() const noexcept { return params_; }
  Variable& weight() noexcept { return weight_; }  // (O, C/G, kH, kW)
  Variable& bias() noexcept { return bias_; }      // (O), undefined without bias

 private:
  std::int64_t in_channels_, out_channels_;
  Size2d kernel_size_;
  Conv2dParams params_;
  Variable weight_, bias_;
};

}  // namespace normlab
