#include "layers/optim/optimizer.h"

#include <fmt/format.h>

#include <cmath>
#include <set>

#include "core/error.h"

namespace normlab {

std::vector<OptimParam> param_groups(const NamedParameters& params) {
  return param_groups(params, [](const std::string&, const Variable&) { return false; });
}

std::vector<OptimParam> param_groups(const NamedParameters& params,
                                     const NoDecayPredicate& no_decay) {
  std::vector<OptimParam> out;
  out.reserve(params.size());
  for (const auto& [name, p] : params) {
    if (p == nullptr) {
      throw ValueError(fmt::format("param_groups: parameter '{}' is null", name));
    }
    out.push_back({.name = name, .variable = p, .decay = !no_decay(name, *p)});
  }
  return out;
}

std::vector<OptimParam> param_groups(const NamedParameters& params,
                                     const std::vector<std::string>& no_decay_names) {
  std::set<std::string> names;
  for (const auto& [name, p] : params) {
    names.insert(name);
  }
  for (const std::string& name : no_decay_names) {
    if (names.count(name) == 0) {
      throw ValueError(
          fmt::format("param_groups: no-decay parameter '{}' is not among the {} parameters", name,
                      params.size()));
    }
  }
  const std::set<std::string> excluded(no_decay_names.begin(), no_decay_names.end());
  return param_groups(
      params, [&](const std::string& name, const Variable&) { return excluded.count(name) != 0; });
}

bool is_one_dim(const std::string& /*name*/, const Variable& p) {
  return p.data().ndim() <= 1;
}

Optimizer::Optimizer(std::vector<OptimParam> params, double lr, std::string_view op)
    : params_(std::move(params)), state_(params_.size()) {
  std::set<std::string> names;
  std::set<const VariableImpl*> variables;
  for (const OptimParam& p : params_) {
    if (p.variable == nullptr || !p.variable->defined()) {
      throw ValueError(fmt::format("{}: parameter '{}' is null or undefined", op, p.name));
    }
    if (!names.insert(p.name).second) {
      throw ValueError(fmt::format("{}: parameter name '{}' appears twice", op, p.name));
    }
    if (!variables.insert(p.variable->impl()).second) {
      throw ValueError(
          fmt::format("{}: parameter '{}' is the same variable as an earlier one", op, p.name));
    }
    if (!is_floating(p.variable->dtype())) {
      throw DTypeError(fmt::format("{}: parameter '{}' has dtype {}, need f32 or f64", op, p.name,
                                   dtype_name(p.variable->dtype())));
    }
  }
  detail::check_non_negative(op, "learning rate", lr);
  lr_ = lr;
}

void Optimizer::zero_grad() {
  for (OptimParam& p : params_) {
    p.variable->zero_grad();
  }
}

void Optimizer::set_lr(double lr) {
  detail::check_non_negative(type_name(), "learning rate", lr);
  lr_ = lr;
}

OptimizerState Optimizer::state_dict() const {
  OptimizerState out;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    for (const auto& [key, t] : state_[i]) {
      out["optim." + params_[i].name + "." + key] = t;
    }
  }
  return out;
}

void Optimizer::check_state_dict(const OptimizerState& state) const {
  const std::vector<StateKey> keys = state_keys();
  std::map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    index[params_[i].name] = i;
  }
  const std::string op = type_name() + ".load_state_dict";
  std::vector<std::vector<bool>> seen(params_.size(), std::vector<bool>(keys.size(), false));
  for (const auto& [name, t] : state) {
    bool matched = false;
    for (std::size_t k = 0; k < keys.size() && !matched; ++k) {
      const std::string suffix = "." + keys[k].key;
      if (!name.starts_with("optim.") || !name.ends_with(suffix) ||
          name.size() <= 6 + suffix.size()) {
        continue;
      }
      const auto it = index.find(name.substr(6, name.size() - 6 - suffix.size()));
      if (it == index.end()) {
        continue;
      }
      matched = true;
      const std::size_t i = it->second;
      const Shape want = keys[k].scalar ? Shape{} : params_[i].variable->shape();
      if (!t.defined() || t.shape() != want) {
        throw ShapeError(fmt::format("{}: '{}' has shape {} but {} expects {}", op, name,
                                     t.defined() ? to_string(t.shape()) : "undefined",
                                     params_[i].name, to_string(want)));
      }
      if (keys[k].scalar && (t.get({}) < 0 || t.get({}) != std::floor(t.get({})))) {
        throw ValueError(fmt::format("{}: '{}' = {} is not a step count", op, name, t.get({})));
      }
      seen[i][k] = true;
    }
    if (!matched) {
      throw ValueError(
          fmt::format("{}: unexpected key '{}' (no such parameter or state)", op, name));
    }
  }
  // A stepped parameter has every key; one that was never stepped has none.
  for (std::size_t i = 0; i < params_.size(); ++i) {
    for (std::size_t k = 0; k < keys.size(); ++k) {
      if (seen[i][k] != seen[i][0]) {
        const std::size_t missing = seen[i][k] ? 0 : k;
        throw ValueError(fmt::format("{}: missing key 'optim.{}.{}' (the state of {} is partial)",
                                     op, params_[i].name, keys[missing].key, params_[i].name));
      }
    }
  }
}

void Optimizer::load_state_dict(const OptimizerState& state) {
  check_state_dict(state);
  const std::vector<StateKey> keys = state_keys();
  for (std::size_t i = 0; i < params_.size(); ++i) {
    std::map<std::string, Tensor> fresh;
    for (const StateKey& k : keys) {
      const auto it = state.find("optim." + params_[i].name + "." + k.key);
      if (it != state.end()) {
        // Own copies, in the dtype step() works in, so later steps never write into the caller's.
        fresh[k.key] = it->second.to(k.scalar ? DType::i64 : params_[i].variable->dtype()).clone();
      }
    }
    state_[i] = std::move(fresh);
  }
}

namespace detail {

Tensor dense_grad(std::string_view op, const OptimParam& p) {
  const Tensor& g = p.variable->grad();
  if (!g.defined()) {
    return {};
  }
  if (g.shape() != p.variable->shape()) {
    throw ShapeError(fmt::format("{}: gradient of '{}' has shape {} but the parameter has {}", op,
                                 p.name, to_string(g.shape()), to_string(p.variable->shape())));
  }
  return g.to(p.variable->dtype()).contiguous();
}

void check_non_negative(std::string_view op, std::string_view what, double value) {
  if (!(value >= 0.0) || !std::isfinite(value)) {
    throw ValueError(fmt::format("{}: invalid {} {} (need a finite value >= 0)", op, what, value));
  }
}

}  // namespace detail

}  // namespace normlab
