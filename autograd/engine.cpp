#include "autograd/engine.h"

#include <fmt/format.h>

#include <unordered_map>
#include <unordered_set>

#include "autograd/node.h"
#include "core/error.h"
#include "core/tensor_math.h"

namespace normlab {

namespace {

// Post-order DFS without recursion, so deep graphs (long training unrolls) cannot overflow the
// stack. The order owns its nodes: the walk clears each node's inputs as it goes (without
// retain_graph), which would otherwise destroy the nodes below it before their turn.
std::vector<std::shared_ptr<Node>> topological_order(const std::shared_ptr<Node>& root) {
  std::vector<std::shared_ptr<Node>> order;
  std::unordered_set<Node*> visited;
  std::vector<std::pair<std::shared_ptr<Node>, std::size_t>> stack{{root, 0}};
  visited.insert(root.get());
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->inputs.size()) {
      const std::shared_ptr<Node> child = node->inputs[next++].node;
      if (child != nullptr && visited.insert(child.get()).second) {
        stack.emplace_back(child, 0);
      }
    } else {
      order.push_back(node);
      stack.pop_back();
    }
  }
  return {order.rbegin(), order.rend()};  // root first
}

// A node's gradient slot, always contiguous (the dy a node's backward reads). The first gradient is
// taken as it is, even when another slot shares its buffer (an add's backward returns dy for both
// inputs); a later one is added in place only when the slot's buffer is its own, and into a fresh
// copy otherwise. So no shared buffer is written, and the common case, a shared gradient that
// nothing is added to, costs no copy.
void accumulate_node_grad(Tensor& slot, const Tensor& g) {
  if (!slot.defined()) {
    slot = g.contiguous();
    return;
  }
  if (!slot.owns_storage_alone()) {
    slot = slot.clone();
  }
  add_(slot, g);
}

// A leaf's .grad always has a buffer of its own, because users and optimizers write into it: the
// first gradient is taken when nothing else refers to its buffer (the usual case: a node's freshly
// computed dx), and copied otherwise.
void accumulate_leaf_grad(Tensor& slot, Tensor g) {
  if (!slot.defined()) {
    slot = g.is_contiguous() && g.owns_storage_alone() ? std::move(g) : g.contiguous().clone();
  } else {
    add_(slot, g);
  }
}

}  // namespace

void run_backward(const Variable& root, const Tensor& grad_output, bool retain_graph,
                  const BackwardObserver* observer) {
  if (!root.requires_grad()) {
    throw ValueError("backward: the variable does not require a gradient and has no graph");
  }
  Tensor seed = grad_output;
  if (!seed.defined()) {
    if (root.numel() != 1) {
      throw ShapeError(fmt::format(
          "backward: a gradient can be created implicitly only for a one-element output (y: {})",
          to_string(root.shape())));
    }
    seed = Tensor::ones(root.shape(), root.dtype());
  }
  if (seed.shape() != root.shape()) {
    throw ShapeError(
        fmt::format("backward: grad_output shape differs from the output (y: {}, dy: {})",
                    to_string(root.shape()), to_string(seed.shape())));
  }
  seed = seed.to(root.dtype());
  if (root.is_leaf()) {
    Tensor g = root.grad();
    accumulate_leaf_grad(g, seed);
    const_cast<Variable&>(root).set_grad(g);  // NOLINT: a leaf's grad is its mutable slot
    return;
  }

  std::unordered_map<Node*, Tensor> grads;
  grads[root.grad_fn().get()] = seed;
  for (const std::shared_ptr<Node>& owned : topological_order(root.grad_fn())) {
    Node* node = owned.get();
    auto it = grads.find(node);
    if (it == grads.end()) {
      continue;  // no gradient flows into this node
    }
    if (node->released) {
      throw ValueError(fmt::format(
          "backward: trying to backward through the graph a second time ({} node); pass "
          "retain_graph=true to the first backward",
          node->name()));
    }
    const Tensor dy = std::move(it->second);
    grads.erase(it);
    std::vector<Tensor> dxs = node->backward(dy);
    if (dxs.size() != node->inputs.size()) {
      throw ValueError(fmt::format("backward: {} returned {} gradients for {} inputs", node->name(),
                                   dxs.size(), node->inputs.size()));
    }
    if (observer != nullptr) {
      (*observer)(*node, dxs);
    }
    for (std::size_t i = 0; i < dxs.size(); ++i) {
      Edge& in = node->inputs[i];
      if (!in.requires_grad || !dxs[i].defined()) {
        continue;
      }
      if (dxs[i].shape() != in.shape) {
        throw ShapeError(
            fmt::format("backward: {} returned a gradient of shape {} for input {} of shape {}",
                        node->name(), to_string(dxs[i].shape()), i, to_string(in.shape)));
      }
      if (in.node) {
        accumulate_node_grad(grads[in.node.get()], dxs[i]);
      } else {
        Tensor g = in.leaf.grad();
        Tensor gi = std::move(dxs[i]);
        const DType t = in.leaf.dtype();
        accumulate_leaf_grad(g, gi.dtype() == t ? std::move(gi) : gi.to(t));
        in.leaf.set_grad(g);
      }
    }
    if (!retain_graph) {
      node->release();
      node->released = true;
      node->inputs.clear();  // frees the graph below this node unless someone else holds it
    }
  }
}

}  // namespace normlab
