// layers/module.h: the base of every layer and model, in PyTorch's shape.
// A module owns its parameters (Variables that require a gradient) and buffers (Tensors such as
// BatchNorm's running statistics) as members and registers pointers to them under a name; children
// are registered the same way, so names are hierarchical: "features.0.weight".
// Two forwards: forward(Variable) records the graph for training; forward_no_grad(Tensor) computes
// the same output without recording anything (evaluation, probing). Neither is "inference": in
// training mode both update running statistics, as PyTorch's forward under torch.no_grad() does.
// Modules are neither copied nor moved, because the registered pointers point into them; hold them
// by std::unique_ptr.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "autograd/variable.h"

namespace normlab {

using StateDict = std::map<std::string, Tensor>;

class Module;

// Sees the output of every child forward that a container (Sequential, ResidualBlock, Network)
// runs, e.g. to check it for non-finite values (tools/anomaly.h). It returns y itself or y passed
// through an identity node that watches the gradient on its way back.
class ForwardObserver {
 public:
  ForwardObserver() = default;
  ForwardObserver(const ForwardObserver&) = delete;
  ForwardObserver& operator=(const ForwardObserver&) = delete;
  virtual ~ForwardObserver() = default;
  virtual Variable after_forward(const Module& child, const Variable& y) = 0;
};

class Module {
 public:
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  virtual ~Module() = default;

  virtual Variable forward(const Variable& x) = 0;
  // Same output and same state changes as forward (in training mode BatchNorm's running statistics
  // are updated), but no graph. The default runs forward on a detached copy of x and drops the
  // graph; layers override it to skip saving what only backward needs. For evaluation call eval()
  // first.
  virtual Tensor forward_no_grad(const Tensor& x);
  virtual std::string type_name() const = 0;             // "Conv2d", "GroupNorm", ...
  virtual std::string extra_repr() const { return {}; }  // "3, 16, kernel_size=3"

  virtual void train(bool on = true);  // recursive
  void eval() { train(false); }
  bool is_training() const noexcept { return training_; }

  std::vector<std::pair<std::string, Variable*>> named_parameters();
  std::vector<std::pair<std::string, Tensor*>> named_buffers();
  std::vector<std::pair<std::string, Module*>> named_children() const { return children_; }
  std::vector<Variable*> parameters();
  std::int64_t num_parameters();
  void zero_grad();
  void to(DType dtype);  // converts every parameter and buffer (e.g. to float64 for gradcheck)

  StateDict state_dict();  // parameters and buffers by hierarchical name
  // Loads tensors by name. Checks every name and shape first and changes nothing on a mismatch;
  // with strict, missing and unexpected names are errors too.
  void load_state_dict(const StateDict& state, bool strict = true);

  std::string to_string() const;  // PyTorch-like tree

  // Installs observer (nullptr: removes it) on this module and every descendant. The observer
  // must outlive its installation.
  void set_forward_observer(ForwardObserver* observer);

 protected:
  // child.forward(x), handed to the observer if one is installed. Containers run their children
  // through it (forward only; forward_no_grad records nothing and is not observed).
  Variable forward_child(Module& child, const Variable& x);
  bool has_forward_observer() const noexcept { return observer_ != nullptr; }
  void register_parameter(std::string name, Variable* parameter);
  void register_buffer(std::string name, Tensor* buffer);
  void register_module(std::string name, Module* child);

 private:
  void collect_parameters(const std::string& prefix,
                          std::vector<std::pair<std::string, Variable*>>& out);
  void collect_buffers(const std::string& prefix,
                       std::vector<std::pair<std::string, Tensor*>>& out);
  void print(std::string& out, int indent) const;

  bool training_ = true;
  ForwardObserver* observer_ = nullptr;  // not owned
  std::vector<std::pair<std::string, Variable*>> params_;
  std::vector<std::pair<std::string, Tensor*>> buffers_;
  std::vector<std::pair<std::string, Module*>> children_;
};

}  // namespace normlab
