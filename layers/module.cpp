#include "layers/module.h"

#include <fmt/format.h>

#include <set>

#include "core/error.h"

namespace normlab {

Tensor Module::forward_no_grad(const Tensor& x) {
  return forward(Variable(x, false)).data();
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) {
    child->train(on);
  }
}

void Module::set_forward_observer(ForwardObserver* observer) {
  observer_ = observer;
  for (auto& [name, child] : children_) {
    child->set_forward_observer(observer);
  }
}

Variable Module::forward_child(Module& child, const Variable& x) {
  Variable y = child.forward(x);
  return observer_ != nullptr ? observer_->after_forward(child, y) : y;
}

void Module::register_parameter(std::string name, Variable* parameter) {
  params_.emplace_back(std::move(name), parameter);
}

void Module::register_buffer(std::string name, Tensor* buffer) {
  buffers_.emplace_back(std::move(name), buffer);
}

void Module::register_module(std::string name, Module* child) {
  children_.emplace_back(std::move(name), child);
}

void Module::collect_parameters(const std::string& prefix,
                                std::vector<std::pair<std::string, Variable*>>& out) {
  for (auto& [name, p] : params_) {
    if (p->defined()) {
      out.emplace_back(prefix + name, p);
    }
  }
  for (auto& [name, child] : children_) {
    child->collect_parameters(prefix + name + ".", out);
  }
}

void Module::collect_buffers(const std::string& prefix,
                             std::vector<std::pair<std::string, Tensor*>>& out) {
  for (auto& [name, b] : buffers_) {
    if (b->defined()) {
      out.emplace_back(prefix + name, b);
    }
  }
  for (auto& [name, child] : children_) {
    child->collect_buffers(prefix + name + ".", out);
  }
}

std::vector<std::pair<std::string, Variable*>> Module::named_parameters() {
  std::vector<std::pair<std::string, Variable*>> out;
  collect_parameters("", out);
  return out;
}

std::vector<std::pair<std::string, Tensor*>> Module::named_buffers() {
  std::vector<std::pair<std::string, Tensor*>> out;
  collect_buffers("", out);
  return out;
}

std::vector<Variable*> Module::parameters() {
  std::vector<Variable*> out;
  for (auto& [name, p] : named_parameters()) {
    out.push_back(p);
  }
  return out;
}

std::int64_t Module::num_parameters() {
  std::int64_t n = 0;
  for (Variable* p : parameters()) {
    n += p->numel();
  }
  return n;
}

void Module::zero_grad() {
  for (Variable* p : parameters()) {
    p->zero_grad();
  }
}

void Module::to(DType dtype) {
  for (auto& [name, p] : named_parameters()) {
    const bool rg = p->requires_grad();
    *p = Variable(p->data().to(dtype).clone(), rg);
  }
  for (auto& [name, b] : named_buffers()) {
    if (is_floating(b->dtype())) {
      *b = b->to(dtype).clone();
    }
  }
}

StateDict Module::state_dict() {
  StateDict out;
  for (auto& [name, p] : named_parameters()) {
    out[name] = p->data();
  }
  for (auto& [name, b] : named_buffers()) {
    out[name] = *b;
  }
  return out;
}

void Module::load_state_dict(const StateDict& state, bool strict) {
  auto params = named_parameters();
  auto buffers = named_buffers();
  std::set<std::string> known;
  // Pass 1: validate everything, so that a bad state leaves the module untouched.
  auto check = [&](const std::string& name, const Tensor& current) {
    known.insert(name);
    const auto it = state.find(name);
    if (it == state.end()) {
      if (strict) {
        throw ValueError(fmt::format("load_state_dict: missing key '{}' (expected shape {})", name,
                                     normlab::to_string(current.shape())));
      }
      return;
    }
    if (it->second.shape() != current.shape()) {
      throw ShapeError(fmt::format("load_state_dict: '{}' has shape {} but the model expects {}",
                                   name, normlab::to_string(it->second.shape()),
                                   normlab::to_string(current.shape())));
    }
  };
  for (auto& [name, p] : params) {
    check(name, p->data());
  }
  for (auto& [name, b] : buffers) {
    check(name, *b);
  }
  if (strict) {
    for (const auto& [name, t] : state) {
      if (known.count(name) == 0) {
        throw ValueError(fmt::format("load_state_dict: unexpected key '{}' (shape {})", name,
                                     normlab::to_string(t.shape())));
      }
    }
  }
  // Pass 2: copy values in place (views of parameters stay valid), converting dtype if needed.
  for (auto& [name, p] : params) {
    if (const auto it = state.find(name); it != state.end()) {
      p->data().copy_(it->second);
    }
  }
  for (auto& [name, b] : buffers) {
    if (const auto it = state.find(name); it != state.end()) {
      b->copy_(it->second);
    }
  }
}

void Module::print(std::string& out, int indent) const {
  out += type_name() + "(" + extra_repr();
  if (!children_.empty()) {
    out += "\n";
    for (const auto& [name, child] : children_) {
      out += std::string(static_cast<std::size_t>(indent + 2), ' ') + "(" + name + "): ";
      child->print(out, indent + 2);
      out += "\n";
    }
    out += std::string(static_cast<std::size_t>(indent), ' ');
  }
  out += ")";
}

std::string Module::to_string() const {
  std::string out;
  print(out, 0);
  return out;
}

}  // namespace normlab
