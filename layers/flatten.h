// layers/flatten.h: shape-only layers, as torch.nn.Flatten and torch.nn.Identity.
//   flatten: dims start_dim..end_dim merged into one;  x: (N, C, H, W) → (N, C·H·W) by default.
//            forward is a view when x is contiguous; backward reshapes dy back to x's shape.
//   identity: y = x (the same Variable / Tensor).
#pragma once

#include "layers/module.h"

namespace normlab {

// The shape flatten(start_dim, end_dim) gives; ShapeError naming the dims and x otherwise.
Shape flatten_shape(const Shape& shape, int start_dim, int end_dim);
Variable flatten(const Variable& x, int start_dim = 1, int end_dim = -1);

class Flatten final : public Module {
 public:
  explicit Flatten(int start_dim = 1, int end_dim = -1);
  Variable forward(const Variable& x) override { return flatten(x, start_dim_, end_dim_); }
  Tensor forward_no_grad(const Tensor& x) override;
  std::string type_name() const override { return "Flatten"; }
  std::string extra_repr() const override;

 private:
  int start_dim_, end_dim_;
};

class Identity final : public Module {
 public:
  Variable forward(const Variable& x) override { return x; }
  Tensor forward_no_grad(const Tensor& x) override { return x; }
  std::string type_name() const override { return "Identity"; }
};

}  // namespace normlab
