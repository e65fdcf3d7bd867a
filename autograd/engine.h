// autograd/engine.h: the backward pass.
// Orders the nodes reachable from the root topologically (once), then walks them from the root
// down: each node's backward turns the gradient of its output into gradients of its inputs, which
// are added into the gradient of the node that made them, or into .grad of a leaf.
#pragma once

#include <functional>
#include <vector>

#include "autograd/variable.h"

namespace normlab {

struct Node;

// Sees every node right after its backward, with the gradients it returned (one per input,
// undefined where an input needs none), before they are added anywhere; it may throw to stop the
// pass (tools/anomaly.h checks them for non-finite values).
using BackwardObserver = std::function<void(const Node& node, const std::vector<Tensor>& dxs)>;

// grad_output undefined means "the root has one element and dL/dL = 1".
void run_backward(const Variable& root, const Tensor& grad_output, bool retain_graph,
                  const BackwardObserver* observer = nullptr);

}  // namespace normlab
