// layers/weighted_op.h: what Linear and Conv2d share around their own kernels, for y = f(x, W) + b:
// the parameters' creation, and the graph glue. The inputs are {x, W} and b when there is a bias;
// the node saves x only if W needs a gradient (dW reads x) and W only if x does (dx reads W).
#pragma once

#include <functional>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "autograd/node.h"
#include "autograd/variable.h"
#include "core/rng.h"

namespace normlab::detail {

// The weight, of weight_shape (out first), and when `bias` the bias, of (out), both requiring
// gradients and initialised as torch.nn's reset_parameters does (default_layer_init_). A dtype
// that is not floating is a DTypeError naming `layer`.
std::pair<Variable, Variable> default_weight_and_bias(std::string_view layer,
                                                      const Shape& weight_shape, bool bias,
                                                      DType dtype, Rng& rng);

struct WeightedNode : Node {
  Tensor x, w;  // saved as above; undefined when not needed
  bool has_bias = false;

  void release() override;

 protected:
  // The gradients in input order: {dx, dW}, then db when the op has a bias.
  std::vector<Tensor> input_grads(Tensor dx, Tensor dw, Tensor db) const;
};

// y as the output of the op. When x, W or b needs a gradient, make_node() builds the op's node
// (with its own fields set), which then saves x and W as above and is recorded; otherwise no node
// is built and y needs no gradient.
Variable weighted_output(Tensor y, const Variable& x, const Variable& w, const Variable& b,
                         const std::function<std::shared_ptr<WeightedNode>()>& make_node);

}  // namespace normlab::detail
