// layers/sequential.cpp: Sequential and ResidualBlock. The residual sum goes through autograd's
// add, so the engine's fan-out accumulation gives dx = dbody_x + dshortcut_x.
#include "layers/sequential.h"

#include <fmt/format.h>

#include "autograd/ops.h"
#include "core/error.h"
#include "core/tensor_math.h"
#include "layers/activation.h"
#include "layers/pooling.h"

namespace normlab {

Sequential::Sequential(std::vector<std::unique_ptr<Module>> layers) {
  for (auto& layer : layers) {
    add(std::move(layer));
  }
}

Module& Sequential::add(std::unique_ptr<Module> layer) {
  if (!layer) {
    throw ValueError(fmt::format("Sequential: layer {} is null", layers_.size()));
  }
  register_module(std::to_string(layers_.size()), layer.get());
  layers_.push_back(std::move(layer));
  return *layers_.back();
}

Module& Sequential::operator[](std::size_t i) {
  if (i >= layers_.size()) {
    throw ValueError(
        fmt::format("Sequential: index {} is out of range ({} layers)", i, layers_.size()));
  }
  return *layers_[i];
}

// The MaxPool2d at i + 1 when layer i is a ReLU: the pair runs as one pass, the max of relu
// (max_pool2d_relu, the same values and gradients bit for bit). Not while an observer watches the
// children, which must then see the ReLU's own output.
const MaxPool2d* Sequential::pool_fused_with_relu_at(std::size_t i) const {
  if (has_forward_observer() || i + 1 >= layers_.size() ||
      dynamic_cast<const ReLU*>(layers_[i].get()) == nullptr) {
    return nullptr;
  }
  return dynamic_cast<const MaxPool2d*>(layers_[i + 1].get());
}

Variable Sequential::forward(const Variable& x) {
  Variable y = x;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    if (const MaxPool2d* pool = pool_fused_with_relu_at(i)) {
      y = pool->forward_after_relu(y);
      ++i;
    } else {
      y = forward_child(*layers_[i], y);
    }
  }
  return y;
}

Tensor Sequential::forward_no_grad(const Tensor& x) {
  Tensor y = x;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    if (const MaxPool2d* pool = pool_fused_with_relu_at(i)) {
      y = pool->forward_no_grad_after_relu(y);
      ++i;
    } else {
      y = layers_[i]->forward_no_grad(y);
    }
  }
  return y;
}

std::unique_ptr<Module> ResidualBlock::default_activation() {
  return std::make_unique<ReLU>();
}

ResidualBlock::ResidualBlock(std::unique_ptr<Module> body, std::unique_ptr<Module> shortcut,
                             std::unique_ptr<Module> activation)
    : body_(std::move(body)), shortcut_(std::move(shortcut)), activation_(std::move(activation)) {
  if (!body_) {
    throw ValueError("ResidualBlock: the body is null");
  }
  register_module("body", body_.get());
  if (shortcut_) {
    register_module("shortcut", shortcut_.get());
  }
  if (activation_) {
    register_module("activation", activation_.get());
  }
}

namespace {
void check_branches(const Shape& body, const Shape& shortcut, const Shape& x) {
  if (body != shortcut) {
    throw ShapeError(
        fmt::format("residual_block: body output {} and shortcut output {} differ (x: {})",
                    to_string(body), to_string(shortcut), to_string(x)));
  }
}
}  // namespace

Variable ResidualBlock::forward(const Variable& x) {
  const Variable main = forward_child(*body_, x);
  const Variable skip = shortcut_ ? forward_child(*shortcut_, x) : x;
  check_branches(main.shape(), skip.shape(), x.shape());
  const Variable sum = add(main, skip);
  return activation_ ? forward_child(*activation_, sum) : sum;
}

Tensor ResidualBlock::forward_no_grad(const Tensor& x) {
  Tensor main = body_->forward_no_grad(x);
  const Tensor skip = shortcut_ ? shortcut_->forward_no_grad(x) : x;
  check_branches(main.shape(), skip.shape(), x.shape());
  if (main.shares_storage(x) || main.shares_storage(skip)) {
    main = main.clone();  // the in-place sum must not write into x or the other branch
  }
  add_(main, skip);
  return activation_ ? activation_->forward_no_grad(main) : main;
}

}  // namespace normlab
