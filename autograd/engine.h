// autograd/engine.h: the backward pass.
// Orders the nodes reachable from the root topologically (once), then walks them from the root
// down: each node's backward turns the gradient of its output into gradients of its inputs, which
// are added into the gradient of the node that made them, or into .grad of a leaf.
#pragma once

#include "autograd/variable.h"

namespace normlab {

// grad_output undefined means "the root has one element and dL/dL = 1".
void run_backward(const Variable& root, const Tensor& grad_output, bool retain_graph);

}  // namespace normlab
