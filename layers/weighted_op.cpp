// layers/weighted_op.cpp: see weighted_op.h.
#include "layers/weighted_op.h"

#include "core/error.h"
#include "layers/init.h"

namespace normlab::detail {

std::pair<Variable, Variable> default_weight_and_bias(std::string_view layer,
                                                      const Shape& weight_shape, bool bias,
                                                      DType dtype, Rng& rng) {
  if (!is_floating(dtype)) {
    throw_not_floating(layer, dtype);
  }
  Tensor w = Tensor::empty(weight_shape, dtype);
  Tensor b = bias ? Tensor::empty({weight_shape.at(0)}, dtype) : Tensor();
  default_layer_init_(w, b, rng);
  return {Variable(w, true), bias ? Variable(b, true) : Variable()};
}

void WeightedNode::release() {
  x = Tensor();
  w = Tensor();
}

std::vector<Tensor> WeightedNode::input_grads(Tensor dx, Tensor dw, Tensor db) const {
  std::vector<Tensor> grads{std::move(dx), std::move(dw)};
  if (has_bias) {
    grads.push_back(std::move(db));
  }
  return grads;
}

Variable weighted_output(Tensor y, const Variable& x, const Variable& w, const Variable& b,
                         const std::function<std::shared_ptr<WeightedNode>()>& make_node) {
  std::vector<Variable> inputs{x, w};
  if (b.defined()) {
    inputs.push_back(b);
  }
  if (!any_requires_grad(inputs)) {
    return Variable(std::move(y), false);
  }
  std::shared_ptr<WeightedNode> node = make_node();
  if (w.requires_grad()) {
    node->x = x.data().contiguous();
  }
  if (x.requires_grad()) {
    node->w = w.data().contiguous();
  }
  node->has_bias = b.defined();
  return make_output(std::move(y), std::move(node), inputs);
}

}  // namespace normlab::detail
