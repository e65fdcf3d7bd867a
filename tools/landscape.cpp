// tools/landscape.cpp: Santurkar et al. 2018's landscape measurements (tools/landscape.h).
#include "tools/landscape.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "core/tensor_math.h"
#include "layers/dropout.h"
#include "tools/train_step.h"

namespace normlab {

namespace {

void collect_dropouts(Module& m, std::vector<Dropout*>& out) {
  if (auto* d = dynamic_cast<Dropout*>(&m)) {
    out.push_back(d);
  }
  for (const auto& [name, child] : m.named_children()) {
    collect_dropouts(*child, out);
  }
}

std::vector<Dropout*> dropouts(Module& model) {
  std::vector<Dropout*> out;
  collect_dropouts(model, out);
  return out;
}

// L(w) on the batch and ∇L(w), one tensor per parameter (zeros for one without a gradient).
double loss_and_gradient(Module& model, const Batch& batch,
                         const std::vector<std::pair<std::string, Variable*>>& params,
                         std::vector<Tensor>& grads) {
  model.zero_grad();
  const Variable loss =
      cross_entropy(model.forward(Variable(model_input(model, batch.images))), batch.labels);
  run_backward(loss, Tensor(), false);
  grads.clear();
  for (const auto& [name, p] : params) {
    grads.push_back(p->grad().defined() ? p->grad().clone()
                                        : Tensor::zeros(p->shape(), p->dtype()));
  }
  return loss.data().item();
}

// ‖a − b‖₂ over all parameters.
double distance(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  double s = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    Tensor d = a[i].clone();
    add_(d, b[i], -1.0);
    s += dot_all(d, d);
  }
  return std::sqrt(s);
}

}  // namespace

ModelSnapshot::ModelSnapshot(Module& model) {
  for (const auto& [name, t] : model.state_dict()) {
    state_[name] = t.clone();
  }
  for (Dropout* d : dropouts(model)) {
    rngs_.push_back(d->rng().state());
  }
}

void ModelSnapshot::restore(Module& model) const {
  model.load_state_dict(state_);
  const std::vector<Dropout*> ds = dropouts(model);
  for (std::size_t i = 0; i < ds.size() && i < rngs_.size(); ++i) {
    ds[i]->rng().set_state(rngs_[i]);
  }
}

std::vector<double> default_landscape_etas(double lr) {
  return {lr / 4, lr / 2, lr, 2 * lr, 4 * lr};
}

LandscapeMeasure measure_landscape(Module& model, const Batch& batch,
                                   std::span<const double> etas) {
  if (etas.empty() || std::any_of(etas.begin(), etas.end(),
                                  [](double eta) { return !(std::isfinite(eta) && eta > 0); })) {
    throw ValueError("landscape: the step sizes must be a non-empty list of positive numbers");
  }
  const ModelSnapshot snapshot(model);
  const auto params = model.named_parameters();
  LandscapeMeasure m;
  std::vector<Tensor> g;
  m.loss = loss_and_gradient(model, batch, params, g);
  for (const Tensor& gi : g) {
    m.grad_norm += dot_all(gi, gi);
  }
  m.grad_norm = std::sqrt(m.grad_norm);
  std::vector<Tensor> g_eta;
  for (const double eta : etas) {
    snapshot.restore(model);  // w and the running statistics as before the measurement
    for (std::size_t i = 0; i < params.size(); ++i) {
      add_(params[i].second->data(), g[i], -eta);  // w − η·g
    }
    LandscapePoint p{.eta = eta};
    p.loss = loss_and_gradient(model, batch, params, g_eta);
    p.grad_change = distance(g_eta, g);
    p.ratio = m.grad_norm > 0 ? p.grad_change / (eta * m.grad_norm) : 0.0;
    m.beta = std::max(m.beta, p.ratio);
    m.points.push_back(p);
  }
  snapshot.restore(model);
  model.zero_grad();
  return m;
}

std::vector<std::string> landscape_rows(std::int64_t step, const LandscapeMeasure& m) {
  std::vector<std::string> rows;
  rows.reserve(m.points.size() + 1);
  for (const LandscapePoint& p : m.points) {
    rows.push_back(
        fmt::format("{},{:.6g},{:.8g},{:.8g},{:.8g}", step, p.eta, p.loss, p.grad_change, p.ratio));
  }
  rows.push_back(fmt::format("{},,{:.8g},,{:.8g}", step, m.loss, m.beta));
  return rows;
}

}  // namespace normlab
