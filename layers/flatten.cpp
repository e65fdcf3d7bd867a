// layers/flatten.cpp: Flatten's shape rule and its node (backward = reshape to x's shape).
#include "layers/flatten.h"

#include <fmt/format.h>

#include "autograd/node.h"
#include "core/error.h"

namespace normlab {

namespace {

struct FlattenNode final : Node {
  Shape x_shape;
  std::vector<Tensor> backward(const Tensor& dy) override { return {dy.reshape(x_shape)}; }
  std::string_view name() const override { return "flatten"; }
};

}  // namespace

Shape flatten_shape(const Shape& shape, int start_dim, int end_dim) {
  if (shape.empty()) {  // a scalar flattens to one element, as in PyTorch
    return {1};
  }
  const int s = normalize_axis("flatten", start_dim, shape);
  const int e = normalize_axis("flatten", end_dim, shape);
  if (s > e) {
    throw ShapeError(fmt::format("flatten: start_dim {} comes after end_dim {} (x: {})", start_dim,
                                 end_dim, to_string(shape)));
  }
  Shape out(shape.begin(), shape.begin() + s);
  std::int64_t merged = 1;
  for (int i = s; i <= e; ++i) {
    merged *= shape[static_cast<std::size_t>(i)];
  }
  out.push_back(merged);
  out.insert(out.end(), shape.begin() + e + 1, shape.end());
  return out;
}

Variable flatten(const Variable& x, int start_dim, int end_dim) {
  Tensor y = x.data().reshape(flatten_shape(x.shape(), start_dim, end_dim));
  if (!x.requires_grad()) {
    return Variable(std::move(y), false);
  }
  auto node = std::make_shared<FlattenNode>();
  node->x_shape = x.shape();
  return make_output(std::move(y), std::move(node), {x});
}

Flatten::Flatten(int start_dim, int end_dim) : start_dim_(start_dim), end_dim_(end_dim) {}

Tensor Flatten::forward_no_grad(const Tensor& x) {
  return x.reshape(flatten_shape(x.shape(), start_dim_, end_dim_));
}

std::string Flatten::extra_repr() const {
  return fmt::format("start_dim={}, end_dim={}", start_dim_, end_dim_);
}

}  // namespace normlab
