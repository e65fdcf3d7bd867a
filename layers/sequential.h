// layers/sequential.h: containers, as torch.nn.Sequential plus a residual block.
//   Sequential:     y = f_k(… f_2(f_1(x)))        children registered as "0", "1", …
//   ResidualBlock:  y = act(body(x) + shortcut(x))
//                   shortcut null = identity, act null = none (ReLU by default, as ResNet).
//                   body(x) and shortcut(x) must have the same shape (no broadcasting).
// Both own their children (std::unique_ptr) and pass forward_no_grad() through to the children's
// forward_no_grad(). Sequential runs a ReLU followed by a MaxPool2d as one op, the max of relu
// (layers/pooling.h), unless a forward observer is installed.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "layers/module.h"

namespace normlab {

class MaxPool2d;

class Sequential final : public Module {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<std::unique_ptr<Module>> layers);

  // Appends a layer under the next index; ValueError for a null pointer.
  Module& add(std::unique_ptr<Module> layer);
  template <class M, class... Args>
  M& emplace(Args&&... args) {
    auto layer = std::make_unique<M>(std::forward<Args>(args)...);
    M& ref = *layer;
    add(std::move(layer));
    return ref;
  }

  std::size_t size() const noexcept { return layers_.size(); }
  bool empty() const noexcept { return layers_.empty(); }
  Module& operator[](std::size_t i);  // ValueError when out of range

  Variable forward(const Variable& x) override;
  Tensor forward_no_grad(const Tensor& x) override;
  std::string type_name() const override { return "Sequential"; }

 private:
  const MaxPool2d* pool_fused_with_relu_at(std::size_t i) const;

  std::vector<std::unique_ptr<Module>> layers_;
};

class ResidualBlock final : public Module {
 public:
  explicit ResidualBlock(std::unique_ptr<Module> body, std::unique_ptr<Module> shortcut = nullptr,
                         std::unique_ptr<Module> activation = default_activation());

  Variable forward(const Variable& x) override;
  Tensor forward_no_grad(const Tensor& x) override;
  std::string type_name() const override { return "ResidualBlock"; }

  Module& body() noexcept { return *body_; }
  Module* shortcut() noexcept { return shortcut_.get(); }      // null: identity
  Module* activation() noexcept { return activation_.get(); }  // null: none

  static std::unique_ptr<Module> default_activation();  // ReLU

 private:
  std::unique_ptr<Module> body_, shortcut_, activation_;
};

}  // namespace normlab
