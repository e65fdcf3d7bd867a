// models/network.cpp: Network, the named sequential container of the models.
#include "models/network.h"

#include <fmt/format.h>

#include "core/error.h"

namespace normlab {

Network::Network(std::string type_name) : type_name_(std::move(type_name)) {}

Module& Network::add(std::string name, std::unique_ptr<Module> layer) {
  if (!layer) {
    throw ValueError(fmt::format("{}: layer '{}' is null", type_name_, name));
  }
  if (name.empty() || name.find('.') != std::string::npos) {
    throw ValueError(
        fmt::format("{}: child name '{}' must be non-empty and contain no '.'", type_name_, name));
  }
  for (const auto& [existing, unused] : layers_) {
    if (existing == name) {
      throw ValueError(fmt::format("{}: a child is already named '{}'", type_name_, name));
    }
  }
  register_module(name, layer.get());
  layers_.emplace_back(std::move(name), std::move(layer));
  return *layers_.back().second;
}

Module& Network::child(std::string_view name) {
  std::string names;
  for (auto& [n, layer] : layers_) {
    if (n == name) {
      return *layer;
    }
    names += fmt::format("{}{}", names.empty() ? "" : ", ", n);
  }
  throw ValueError(fmt::format("{}: no child named '{}' (children: {})", type_name_, name, names));
}

Variable Network::forward(const Variable& x) {
  Variable y = x;
  for (auto& [name, layer] : layers_) {
    y = forward_child(*layer, y);
  }
  return y;
}

Tensor Network::forward_no_grad(const Tensor& x) {
  Tensor y = x;
  for (auto& [name, layer] : layers_) {
    y = layer->forward_no_grad(y);
  }
  return y;
}

}  // namespace normlab
