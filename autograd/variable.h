// autograd/variable.h: a Tensor that takes part in the define-by-run graph.
// A Variable is a handle to shared state (like a Tensor): copies refer to the same value, grad and
// graph node. Leaves are created by the user (inputs, parameters); every op on Variables whose
// inputs require a gradient records a Node that holds what its hand-written backward needs.
// See docs/architecture.md, "How the graph is recorded and walked".
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "core/tensor.h"

namespace normlab {

struct Node;

struct VariableImpl {
  Tensor data;
  Tensor grad;  // undefined until a backward pass reaches this leaf
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;  // null for leaves
};

class Variable {
 public:
  Variable() = default;  // undefined
  explicit Variable(Tensor data, bool requires_grad = false);

  bool defined() const noexcept { return impl_ != nullptr; }
  const Tensor& data() const;
  Tensor& data();  // the value itself, e.g. for an optimizer's in-place update
  const Tensor& grad() const;
  void set_grad(Tensor grad);
  void zero_grad();  // drops the gradient (like PyTorch's set_to_none)
  bool requires_grad() const;
  const std::shared_ptr<Node>& grad_fn() const;
  bool is_leaf() const { return grad_fn() == nullptr; }

  const Shape& shape() const { return data().shape(); }
  DType dtype() const { return data().dtype(); }
  std::int64_t numel() const { return data().numel(); }

  Variable detach() const;  // same storage, no history, no gradient

  // Backpropagates from this variable. Without grad_output it must hold one element (dL/dL = 1).
  // The graph is freed afterwards unless retain_graph is true.
  void backward(bool retain_graph = false) const;
  void backward(const Tensor& grad_output, bool retain_graph = false) const;

  const VariableImpl* impl() const noexcept { return impl_.get(); }
  bool same(const Variable& other) const noexcept { return impl_ == other.impl_; }

 private:
  friend Variable make_output(Tensor data, std::shared_ptr<Node> node,
                              const std::vector<Variable>& inputs);
  friend void run_backward(const Variable& root, const Tensor& grad_output, bool retain_graph,
                           const std::function<void(const Node&, const std::vector<Tensor>&)>*);
  std::shared_ptr<VariableImpl> impl_;
};

bool any_requires_grad(const std::vector<Variable>& inputs);

// Wraps an op's result. If any input requires a gradient, the node is attached with those inputs as
// its edges and the result requires a gradient; otherwise the node is dropped and nothing is
// recorded. Ops build the node only when any_requires_grad() says it will be kept.
Variable make_output(Tensor data, std::shared_ptr<Node> node, const std::vector<Variable>& inputs);

}  // namespace normlab
