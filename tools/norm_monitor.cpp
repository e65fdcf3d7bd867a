#include "tools/norm_monitor.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "autograd/node.h"
#include "core/tensor_math.h"

namespace normlab {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Mean and standard deviation of all elements (two passes, double accumulators).
std::pair<double, double> moments(const Tensor& t) {
  const Tensor d = t.to(DType::f64).contiguous();
  const auto v = d.data<double>();
  if (v.empty()) {
    return {0.0, 0.0};
  }
  double s = 0.0;
  for (const double e : v) {
    s += e;
  }
  const double mean = s / static_cast<double>(v.size());
  double ss = 0.0;
  for (const double e : v) {
    ss += (e - mean) * (e - mean);
  }
  return {mean, std::sqrt(ss / static_cast<double>(v.size()))};
}

// Identity forward; its backward stores ‖dy‖₂ and passes dy on unchanged.
struct TapNode final : Node {
  double* slot = nullptr;
  std::vector<Tensor> backward(const Tensor& dy) override {
    *slot = std::sqrt(dot_all(dy, dy));
    return {dy};
  }
  std::string_view name() const override { return "norm_monitor_tap"; }
};

Variable tap(const Variable& x, double* slot) {
  if (!any_requires_grad({x})) {
    return x;
  }
  auto node = std::make_shared<TapNode>();
  node->slot = slot;
  return make_output(x.data(), std::move(node), {x});
}

}  // namespace

// A normalization layer, wrapped. Its parameters and buffers are registered under the inner
// layer's own names, so state dicts and checkpoints do not see the wrapper.
class MonitoredNorm final : public Module {
 public:
  MonitoredNorm(std::unique_ptr<Module> inner, NormMonitor& monitor)
      : inner_(std::move(inner)), monitor_(monitor) {
    for (auto& [name, p] : inner_->named_parameters()) {
      register_parameter(name, p);
    }
    for (auto& [name, b] : inner_->named_buffers()) {
      register_buffer(name, b);
      if (name == "running_mean") {
        running_mean_ = b;
      } else if (name == "running_var") {
        running_var_ = b;
      }
    }
    stats_.type = inner_->type_name();
  }

  Variable forward(const Variable& x) override {
    if (!monitor_.recording()) {
      return inner_->forward(x);
    }
    std::tie(stats_.in_mean, stats_.in_std) = moments(x.data());
    record_running_gap(x.data());
    const Variable y = inner_->forward(tap(x, &stats_.grad_in_norm));
    std::tie(stats_.out_mean, stats_.out_std) = moments(y.data());
    return tap(y, &stats_.grad_out_norm);
  }
  Tensor forward_no_grad(const Tensor& x) override { return inner_->forward_no_grad(x); }
  void train(bool on) override {
    Module::train(on);
    inner_->train(on);
  }
  std::string type_name() const override { return inner_->type_name(); }
  std::string extra_repr() const override { return inner_->extra_repr(); }

  NormLayerStats& stats() { return stats_; }

 private:
  // Per-channel batch moments of x (N, C, ...) against the running statistics.
  void record_running_gap(const Tensor& x) {
    stats_.bn_mean_gap = kNaN;
    stats_.bn_var_ratio = kNaN;
    if (running_mean_ == nullptr || running_var_ == nullptr || x.ndim() < 2 ||
        running_mean_->numel() != x.dim(1)) {
      return;
    }
    const std::int64_t C = x.dim(1);
    const Tensor xc = x.transpose(0, 1).reshape({C, -1}).to(DType::f64);
    const Tensor rm = running_mean_->to(DType::f64).contiguous();
    const Tensor rv = running_var_->to(DType::f64).contiguous();
    double gap2 = 0.0;
    double ratio = 0.0;
    for (std::int64_t c = 0; c < C; ++c) {
      const auto [mean, std] = moments(xc.select(0, c));
      gap2 += (mean - rm.data<double>()[c]) * (mean - rm.data<double>()[c]);
      ratio += std * std / std::max(rv.data<double>()[c], 1e-12);
    }
    stats_.bn_mean_gap = std::sqrt(gap2 / static_cast<double>(C));
    stats_.bn_var_ratio = ratio / static_cast<double>(C);
  }

  std::unique_ptr<Module> inner_;
  NormMonitor& monitor_;
  Tensor* running_mean_ = nullptr;
  Tensor* running_var_ = nullptr;
  NormLayerStats stats_;
};

std::unique_ptr<Module> NormMonitor::wrap(std::unique_ptr<Module> norm) {
  auto wrapped = std::make_unique<MonitoredNorm>(std::move(norm), *this);
  slots_.push_back(&wrapped->stats());
  return wrapped;
}

void NormMonitor::name_layers(Module& model) {
  // Depth-first over the module tree, carrying the hierarchical prefix.
  auto visit = [&](auto&& self, Module& m, const std::string& prefix) -> void {
    for (auto& [name, child] : m.named_children()) {
      const std::string full = prefix.empty() ? name : fmt::format("{}.{}", prefix, name);
      if (auto* mn = dynamic_cast<MonitoredNorm*>(child)) {
        mn->stats().layer = full;
      }
      self(self, *child, full);
    }
  };
  visit(visit, model, "");
}

std::vector<NormLayerStats> NormMonitor::collect() const {
  std::vector<NormLayerStats> out;
  out.reserve(slots_.size());
  for (const NormLayerStats* s : slots_) {
    out.push_back(*s);
  }
  return out;
}

}  // namespace normlab
