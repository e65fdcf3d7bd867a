// models/network.h: the top-level container of every model: named children run in order, so a
// model's state_dict names read like a PyTorch model whose forward calls its attributes in turn
// ("features.0.weight", "classifier.bias"). Sequential numbers its children; Network names them.
//   y = f_k(… f_2(f_1(x)))        f_i registered under its own name, in the order added
// forward_no_grad() passes the plain Tensor through every child's forward_no_grad(), so it records
// no graph.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "layers/module.h"

namespace normlab {

class Network final : public Module {
 public:
  // type_name: what to_string() prints for the model, e.g. "TinyCNN".
  explicit Network(std::string type_name);

  // Appends a child under `name`. ValueError for a null layer, an empty name, a name with a '.',
  // or a name already used.
  Module& add(std::string name, std::unique_ptr<Module> layer);

  std::size_t size() const noexcept { return layers_.size(); }
  // The child registered under `name`; ValueError listing the children when there is none.
  Module& child(std::string_view name);

  Variable forward(const Variable& x) override;
  Tensor forward_no_grad(const Tensor& x) override;
  std::string type_name() const override { return type_name_; }

 private:
  std::string type_name_;
  std::vector<std::pair<std::string, std::unique_ptr<Module>>> layers_;
};

}  // namespace normlab
