#include "tools/train_step.h"

#include <fmt/format.h>

#include <cmath>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "core/tensor_math.h"
#include "tools/anomaly.h"
#include "tools/data_parallel.h"

namespace normlab {

namespace {

double l2(const Tensor& t) {
  return std::sqrt(dot_all(t, t));
}

// ‖w‖, ‖∂L/∂w‖ and ‖Δw‖/‖w‖ of every parameter, given the values before the update.
std::vector<ParamStats> measure(const std::vector<OptimParam>& params,
                                const std::vector<Tensor>& before) {
  std::vector<ParamStats> stats;
  stats.reserve(params.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    const OptimParam& p = params[i];
    Tensor delta = p.variable->data().clone();
    add_(delta, before[i], -1.0);
    const double w = l2(before[i]);
    stats.push_back({.name = p.name,
                     .weight_norm = w,
                     .grad_norm = p.variable->grad().defined() ? l2(p.variable->grad()) : 0.0,
                     .update_ratio = w > 0 ? l2(delta) / w : 0.0});
  }
  return stats;
}

}  // namespace

std::int64_t count_correct(const Tensor& logits, const Tensor& labels,
                           std::vector<std::vector<std::int64_t>>* confusion) {
  const Tensor l = logits.to(DType::f32).contiguous();
  const auto v = l.data<float>();
  const auto y = labels.data<std::int64_t>();
  const std::int64_t n = l.dim(0);
  const std::int64_t K = l.dim(1);
  std::int64_t correct = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t best = 0;
    for (std::int64_t k = 1; k < K; ++k) {
      if (v[static_cast<std::size_t>(i * K + k)] > v[static_cast<std::size_t>(i * K + best)]) {
        best = k;
      }
    }
    const std::int64_t t = y[static_cast<std::size_t>(i)];
    correct += best == t ? 1 : 0;
    if (confusion != nullptr) {
      ++(*confusion)[static_cast<std::size_t>(t)][static_cast<std::size_t>(best)];
    }
  }
  return correct;
}

Tensor model_input(Module& model, const Tensor& images) {
  const std::vector<Variable*> params = model.parameters();
  return params.empty() ? images : images.to(params.front()->dtype());  // to: no copy when equal
}

StepResult train_step(Module& model, Optimizer& optimizer, const Batch& batch, double lr,
                      bool measure_params, AnomalyDetector* anomaly, DataParallel* data_parallel) {
  optimizer.set_lr(lr);
  // the model's input dtype from the optimizer's parameters, which it already holds (model_input
  // would collect every parameter's name on every step)
  const std::vector<OptimParam>& params = optimizer.params();
  const Tensor x =
      params.empty() ? batch.images : batch.images.to(params.front().variable->dtype());
  const Variable logits = model.forward(Variable(x));
  const Variable loss = cross_entropy(logits, batch.labels);
  StepResult r;
  r.loss = loss.data().item();
  r.images = batch.labels.numel();
  if (anomaly != nullptr) {
    anomaly->check_forward(loss.data(), "the loss", "cross_entropy");
  }
  // Every rank must reach the gradient average, so a rank whose loss is not finite still runs its
  // backward; the average then carries the non-finite loss to every rank.
  if (!std::isfinite(r.loss) && data_parallel == nullptr) {
    return r;  // no backward, no update: the weights stay those of the last good step
  }
  optimizer.zero_grad();
  run_backward(loss, Tensor(), false, anomaly != nullptr ? &anomaly->backward_observer() : nullptr);
  if (data_parallel != nullptr) {
    r.correct = count_correct(logits.data(), batch.labels);
    data_parallel->average_gradients(r);
    if (!std::isfinite(r.loss)) {
      return r;
    }
  }
  std::vector<Tensor> before;
  if (measure_params) {
    for (const OptimParam& p : optimizer.params()) {
      before.push_back(p.variable->data().clone());
    }
  }
  optimizer.step();
  if (data_parallel == nullptr) {
    r.correct = count_correct(logits.data(), batch.labels);
  }
  if (measure_params) {
    r.params = measure(optimizer.params(), before);
  }
  return r;
}

void EpochTally::add(const StepResult& s) {
  loss_sum += s.loss * static_cast<double>(s.images);
  correct += s.correct;
  images += s.images;
}

double EpochTally::mean_loss() const noexcept {
  return images > 0 ? loss_sum / static_cast<double>(images) : 0.0;
}

double EpochTally::accuracy() const noexcept {
  return images > 0 ? static_cast<double>(correct) / static_cast<double>(images) : 0.0;
}

}  // namespace normlab
