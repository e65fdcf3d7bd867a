#include "autograd/variable.h"

#include "autograd/engine.h"
#include "autograd/node.h"
#include "core/error.h"

namespace normlab {

namespace {
void check(const std::shared_ptr<VariableImpl>& impl) {
  if (!impl) {
    throw ValueError("variable: use of an undefined Variable");
  }
}
}  // namespace

Variable::Variable(Tensor data, bool requires_grad) : impl_(std::make_shared<VariableImpl>()) {
  if (requires_grad && !is_floating(data.dtype())) {
    throw DTypeError("variable: only float32 and float64 tensors can require a gradient (x: " +
                     to_string(data.shape()) + ")");
  }
  impl_->data = std::move(data);
  impl_->requires_grad = requires_grad;
}

const Tensor& Variable::data() const {
  check(impl_);
  return impl_->data;
}

Tensor& Variable::data() {
  check(impl_);
  return impl_->data;
}

const Tensor& Variable::grad() const {
  check(impl_);
  return impl_->grad;
}

void Variable::set_grad(Tensor grad) {
  check(impl_);
  impl_->grad = std::move(grad);
}

void Variable::zero_grad() {
  check(impl_);
  impl_->grad = Tensor();
}

bool Variable::requires_grad() const {
  check(impl_);
  return impl_->requires_grad;
}

const std::shared_ptr<Node>& Variable::grad_fn() const {
  check(impl_);
  return impl_->grad_fn;
}

Variable Variable::detach() const {
  return Variable(data(), false);
}

void Variable::backward(bool retain_graph) const {
  run_backward(*this, Tensor(), retain_graph);
}

void Variable::backward(const Tensor& grad_output, bool retain_graph) const {
  run_backward(*this, grad_output, retain_graph);
}

bool any_requires_grad(const std::vector<Variable>& inputs) {
  for (const Variable& v : inputs) {
    if (v.defined() && v.requires_grad()) {
      return true;
    }
  }
  return false;
}

Variable make_output(Tensor data, std::shared_ptr<Node> node, const std::vector<Variable>& inputs) {
  Variable out(std::move(data), false);
  if (node && any_requires_grad(inputs)) {
    node->inputs.reserve(inputs.size());
    for (const Variable& in : inputs) {
      if (!in.defined()) {
        node->inputs.emplace_back();
        continue;
      }
      const bool leaf = in.is_leaf() && in.requires_grad();
      node->inputs.push_back(
          {in.grad_fn(), leaf ? in : Variable(), in.shape(), in.requires_grad()});
    }
    out.impl_->requires_grad = true;
    out.impl_->grad_fn = std::move(node);
  }
  return out;
}

}  // namespace normlab
