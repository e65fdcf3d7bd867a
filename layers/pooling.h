// layers/pooling.h: 2-D max and average pooling and global average pooling, as torch.nn's
// MaxPool2d, AvgPool2d and AdaptiveAvgPool2d(1). Every plane (n, c) is pooled on its own.
// x: (N, C, H, W) → y: (N, C, oH, oW), oH = ⌊(H + 2p − d(k − 1) − 1)/s⌋ + 1 (no ceil_mode).
// Window of output (oh, ow): rows oh·s_h − p_h + i·d_h, columns ow·s_w − p_w + j·d_w.
//   max:  y = max over the window's in-image positions; argmax saved (flat h·W + w in the plane),
//         the first maximum in row-major window order wins ties (a NaN counts as the maximum);
//         dx[argmax] += dy.
//   avg:  y = (1/D) Σ over the window's in-image positions; D = the window's area clipped to the
//         padded image when count_include_pad (PyTorch's default), else the in-image count;
//         dx[h][w] += dy / D for every window that contains (h, w).
//   global avg: y[n][c] = (1/HW) Σ_hw x[n][c][hw], y: (N, C, 1, 1);  dx = dy / HW.
//   max of relu (ReLU then MaxPool2d as one op, which Sequential runs for that pair):
//         y = max over the window of relu(x) = relu(max over the window of x), ReLU being monotone,
//         so the window is pooled once and relu touches only the (4× smaller) output. The winning
//         position is the same; dx[argmax] += dy where y > 0, and no gradient where y ≤ 0 or NaN
//         (relu's gradient is 0 there). Bit for bit the result of the two layers run one by one.
// As in PyTorch, padding may be at most half the kernel size, so every window sees the image.
#pragma once

#include <optional>

#include "layers/layer_util.h"
#include "layers/module.h"

namespace normlab {

struct MaxPool2dOptions {
  std::optional<Size2d> stride = std::nullopt;  // default: kernel_size
  Size2d padding = 0;
  Size2d dilation = 1;
};

struct AvgPool2dOptions {
  std::optional<Size2d> stride = std::nullopt;  // default: kernel_size
  Size2d padding = 0;
  bool count_include_pad = true;
};

Tensor max_pool2d_forward(const Tensor& x, Size2d kernel_size,
                          const MaxPool2dOptions& options = {});
Variable max_pool2d(const Variable& x, Size2d kernel_size, const MaxPool2dOptions& options = {});
Tensor max_pool2d_relu_forward(const Tensor& x, Size2d kernel_size,
                               const MaxPool2dOptions& options = {});
Variable max_pool2d_relu(const Variable& x, Size2d kernel_size,
                         const MaxPool2dOptions& options = {});
Tensor avg_pool2d_forward(const Tensor& x, Size2d kernel_size,
                          const AvgPool2dOptions& options = {});
Variable avg_pool2d(const Variable& x, Size2d kernel_size, const AvgPool2dOptions& options = {});
Tensor global_avg_pool2d_forward(const Tensor& x);
Variable global_avg_pool2d(const Variable& x);

class MaxPool2d final : public Module {
 public:
  explicit MaxPool2d(Size2d kernel_size, const MaxPool2dOptions& options = {});
  Variable forward(const Variable& x) override;
  Tensor forward_no_grad(const Tensor& x) override;
  std::string type_name() const override { return "MaxPool2d"; }
  std::string extra_repr() const override;

  // This pooling applied to relu(x), in one pass (max_pool2d_relu): what Sequential runs for a
  // ReLU followed by this module.
  Variable forward_after_relu(const Variable& x) const;
  Tensor forward_no_grad_after_relu(const Tensor& x) const;

 private:
  Size2d kernel_size_;
  MaxPool2dOptions options_;
};

class AvgPool2d final : public Module {
 public:
  explicit AvgPool2d(Size2d kernel_size, const AvgPool2dOptions& options = {});
  Variable forward(const Variable& x) override;
  Tensor forward_no_grad(const Tensor& x) override;
  std::string type_name() const override { return "AvgPool2d"; }
  std::string extra_repr() const override;

 private:
  Size2d kernel_size_;
  AvgPool2dOptions options_;
};

// AdaptiveAvgPool2d(1): (N, C, H, W) → (N, C, 1, 1).
class GlobalAvgPool2d final : public Module {
 public:
  Variable forward(const Variable& x) override { return global_avg_pool2d(x); }
  Tensor forward_no_grad(const Tensor& x) override { return global_avg_pool2d_forward(x); }
  std::string type_name() const override { return "GlobalAvgPool2d"; }
};

}  // namespace normlab
