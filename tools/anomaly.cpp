#include "tools/anomaly.h"

#include <fmt/format.h>

#include <cmath>
#include <vector>

#include "autograd/node.h"

namespace normlab {

namespace {

// Hierarchical names as in state dicts ("features.5"); the model itself is "model".
void name_modules(const Module& m, const std::string& prefix,
                  std::unordered_map<const Module*, std::string>& names) {
  names[&m] = prefix.empty() ? "model" : prefix;
  for (const auto& [child_name, child] : m.named_children()) {
    name_modules(*child, prefix.empty() ? child_name : fmt::format("{}.{}", prefix, child_name),
                 names);
  }
}

// Identity forward; its backward tells the detector that the pass enters `module`.
struct EnterNode final : Node {
  AnomalyDetector* detector = nullptr;
  const Module* module = nullptr;
  std::vector<Tensor> backward(const Tensor& dy) override {
    detector->enter_backward(module);
    return {dy};
  }
  std::string_view name() const override { return "anomaly_mark"; }
};

}  // namespace

std::string first_non_finite(const Tensor& t) {
  const Tensor d = t.to(DType::f64).contiguous();
  const auto v = d.data<double>();
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i])) {
      return fmt::format("{} at {}", v[i],
                         to_string(unravel_index(static_cast<std::int64_t>(i), t.shape())));
    }
  }
  return {};
}

AnomalyDetector::AnomalyDetector(Module& model) : model_(model) {
  name_modules(model, "", names_);
  backward_ = [this](const Node& node, const std::vector<Tensor>& dxs) {
    for (std::size_t i = 0; i < dxs.size(); ++i) {
      if (!dxs[i].defined()) {
        continue;
      }
      if (const std::string bad = first_non_finite(dxs[i]); !bad.empty()) {
        throw ValueError(fmt::format(
            "train: --detect-anomaly: non-finite gradient ({}) in {}, op {} (gradient of its "
            "input {}), backward pass, step {}",
            bad, name_of(backward_module_), node.name(), i, step_));
      }
    }
  };
  model_.set_forward_observer(this);
}

AnomalyDetector::~AnomalyDetector() {
  model_.set_forward_observer(nullptr);
}

void AnomalyDetector::start_step(std::int64_t step) {
  step_ = step;
  backward_module_ = &model_;
}

std::string AnomalyDetector::name_of(const Module* m) const {
  const auto it = names_.find(m);
  return it == names_.end() ? "an unnamed module"
                            : fmt::format("{} ({})", it->second, m->type_name());
}

Variable AnomalyDetector::after_forward(const Module& child, const Variable& y) {
  const std::string op = y.grad_fn() != nullptr ? std::string(y.grad_fn()->name()) : "none";
  check_forward(y.data(), name_of(&child), op);
  if (!y.requires_grad()) {
    return y;
  }
  auto node = std::make_shared<EnterNode>();
  node->detector = this;
  node->module = &child;
  return make_output(y.data(), std::move(node), {y});
}

void AnomalyDetector::check_forward(const Tensor& t, const std::string& what,
                                    std::string_view op) const {
  if (const std::string bad = first_non_finite(t); !bad.empty()) {
    throw ValueError(
        fmt::format("train: --detect-anomaly: non-finite output ({}) of {}, op {}, forward pass, "
                    "step {}",
                    bad, what, op, step_));
  }
}

}  // namespace normlab
