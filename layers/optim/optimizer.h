// layers/optim/optimizer.h: the base of SGD, Adam and AdamW, in torch.optim's shape.
// An optimizer holds named parameters, each marked as decaying or not (PyTorch's parameter groups,
// reduced to the one split that matters here: biases and norm γ/β are usually excluded from weight
// decay). Per-parameter state (momentum buffers, Adam moments, step counts) is a small map of
// tensors, exported as a state dict named "optim.<parameter>.<key>", so checkpoints can hold it.
// The learning rate is a plain value that a schedule (layers/optim/schedule.h) sets before step().
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "autograd/variable.h"

namespace normlab {

using NamedParameters = std::vector<std::pair<std::string, Variable*>>;  // Module::named_parameters
using OptimizerState = std::map<std::string, Tensor>;                    // same type as StateDict

struct OptimParam {
  std::string name;  // the module's name for it, e.g. "features.0.weight"
  Variable* variable = nullptr;
  bool decay = true;  // false: weight decay is not applied (biases, norm γ/β)
};

// Predicate that says which parameters are excluded from weight decay.
using NoDecayPredicate = std::function<bool(const std::string& name, const Variable& p)>;

// Every parameter decays.
std::vector<OptimParam> param_groups(const NamedParameters& params);
// Parameters for which no_decay(name, p) is true do not decay.
std::vector<OptimParam> param_groups(const NamedParameters& params,
                                     const NoDecayPredicate& no_decay);
// The named parameters do not decay; a name that is not among params is a ValueError.
std::vector<OptimParam> param_groups(const NamedParameters& params,
                                     const std::vector<std::string>& no_decay_names);
// The usual predicate: parameters with at most one dimension (biases, norm γ/β).
bool is_one_dim(const std::string& name, const Variable& p);

class Optimizer {
 public:
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;
  virtual ~Optimizer() = default;

  // One update of every parameter that has a gradient (parameters without one are skipped, as
  // torch skips p.grad is None).
  virtual void step() = 0;
  virtual std::string type_name() const = 0;  // "SGD", "Adam", "AdamW"

  void zero_grad();  // drops every parameter's gradient
  double lr() const noexcept { return lr_; }
  void set_lr(double lr);  // ValueError when negative or not finite

  const std::vector<OptimParam>& params() const noexcept { return params_; }

  // Every state tensor as "optim.<parameter name>.<key>"; step counts are int64 scalars.
  // Parameters that have not been stepped yet have no entries (as in torch).
  OptimizerState state_dict() const;
  // Checks every name, shape and per-parameter completeness first and throws (changing nothing) on
  // the first problem; then replaces the whole state. Parameters without entries start afresh.
  void check_state_dict(const OptimizerState& state) const;
  void load_state_dict(const OptimizerState& state);

 protected:
  // One kind of per-parameter state: "momentum_buffer" (shape of the parameter) or "step" ([]).
  struct StateKey {
    std::string key;
    bool scalar =
        false;  // true: an int64 count of shape []; false: the parameter's shape and dtype
  };

  Optimizer(std::vector<OptimParam> params, double lr, std::string_view op);
  // The keys a stepped parameter has, all of them or none (depends on options, e.g. amsgrad).
  virtual std::vector<StateKey> state_keys() const = 0;

  // state(i): the state map of parameter i, which step() fills on first use.
  std::map<std::string, Tensor>& state(std::size_t i) { return state_[i]; }

 private:
  std::vector<OptimParam> params_;
  std::vector<std::map<std::string, Tensor>> state_;  // one per parameter, same order
  double lr_ = 0.0;
};

namespace detail {
// The gradient of p as a contiguous tensor in p's dtype, or an undefined Tensor when p has none;
// ShapeError (naming op and the parameter) if the gradient's shape differs.
Tensor dense_grad(std::string_view op, const OptimParam& p);
void check_non_negative(std::string_view op, std::string_view what, double value);
}  // namespace detail

}  // namespace normlab
