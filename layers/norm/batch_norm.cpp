// layers/norm/batch_norm.cpp: BatchNorm's training and evaluation kernels, nodes and module.
// Equations BN1–BN11: docs/normalization/batch_norm.md; D1–D5: docs/normalization/derivation.md.
#include "layers/norm/batch_norm.h"

#include <fmt/format.h>

#include <cmath>

#include "autograd/node.h"
#include "core/error.h"
#include "layers/norm/norm_core.h"

namespace normlab {

// ---- training: batch statistics ----

// forward, eq. BN1–BN4 over S_c = all (n, hw) of channel c:
//   μ_c = (1/m) Σ x,   σ²_c = (1/m) Σ (x − μ_c)²,   x̂ = (x − μ_c)·rstd_c,   y = γ_c·x̂ + β_c
// x, xhat, y: (N, C, HW); gamma, beta: (C) or null; mean, var, rstd: (C)
template <class T>
void batch_norm_forward(const T* x, const T* gamma, const T* beta, SetLayout L, double eps,
                        double* mean, double* var, double* rstd, T* xhat, T* y) {
  set_mean_var(x, L, mean, var);  // step 1: eq. BN1, BN2
  for (std::int64_t c = 0; c < L.sets; ++c) {
    rstd[c] = 1.0 / std::sqrt(var[c] + eps);
  }
  set_normalize_forward(x, mean, rstd, L, xhat);  // step 2: eq. BN3
  set_affine_forward(xhat, gamma, beta, L, y);    // step 3: eq. BN4
}

// backward, eq. BN5–BN8, given dy (N, C, HW) and the saved x̂, rstd (C):
//   step 1  dβ_c = Σ_{n,hw} dy          dγ_c = Σ_{n,hw} dy·x̂          (eq. BN5, BN6)
//   step 2  g    = γ_c·dy                                            (∂L/∂x̂, eq. BN7)
//   step 3  dx   = rstd_c/m · (m·g − Σ g − x̂·Σ g·x̂)                 (through μ_c and σ_c, eq. BN8 =
//   D4)
template <class T>
void batch_norm_backward(const T* dy, const T* xhat, const T* gamma, const double* rstd,
                         SetLayout L, T* g, T* dx, double* dgamma, double* dbeta) {
  set_sums(dy, xhat, L, dbeta, dgamma);
  set_scale(dy, gamma, L, g);
  set_normalize_backward(g, xhat, rstd, L, dx);
}

// ---- evaluation: running statistics are constants ----

// forward, eq. BN9:  x̂ = (x − μ_run_c)·rstd_run_c,  y = γ_c·x̂ + β_c,  rstd_run = 1/sqrt(σ²_run + ε)
template <class T>
void batch_norm_eval_forward(const T* x, const T* gamma, const T* beta, const double* mean,
                             const double* rstd, SetLayout L, T* xhat, T* y) {
  set_normalize_forward(x, mean, rstd, L, xhat);
  set_affine_forward(xhat, gamma, beta, L, y);
}

// backward, eq. BN10: μ_run and rstd_run do not depend on x, so
//   step 1  dβ_c = Σ dy,  dγ_c = Σ dy·x̂
//   step 2  dx   = γ_c·rstd_run_c·dy
template <class T>
void batch_norm_eval_backward(const T* dy, const T* xhat, const T* gamma, const double* rstd,
                              SetLayout L, T* dx, double* dgamma, double* dbeta) {
  set_sums(dy, xhat, L, dbeta, dgamma);
  for (std::int64_t r = 0; r < L.outer * L.sets; ++r) {
    const std::int64_t c = r % L.sets;
    const double k = (gamma != nullptr ? static_cast<double>(gamma[c]) : 1.0) * rstd[c];
    for (std::int64_t d = 0; d < L.inner; ++d) {
      dx[r * L.inner + d] = static_cast<T>(k * static_cast<double>(dy[r * L.inner + d]));
    }
  }
}

namespace {

// Saves x̂ (size of x), rstd (C) and γ; `eval` picks eq. BN10 over eq. BN5–BN8.
struct BatchNormNode final : Node {
  Tensor xhat, gamma;
  std::vector<double> rstd;
  bool eval = false;

  std::vector<Tensor> backward(const Tensor& dy_in) override {
    const Tensor dy = dy_in.contiguous();
    const SetLayout L = channel_layout(xhat.shape());
    Tensor dx = Tensor::empty(xhat.shape(), xhat.dtype());
    std::vector<double> dgamma(static_cast<std::size_t>(L.sets)), dbeta(dgamma.size());
    visit_float(xhat.dtype(), name(), [&]<class T>() {
      if (eval) {
        batch_norm_eval_backward(dy.data<T>().data(), xhat.data<T>().data(), data_or_null<T>(gamma),
                                 rstd.data(), L, dx.data<T>().data(), dgamma.data(), dbeta.data());
      } else {
        Tensor g = Tensor::empty(xhat.shape(), xhat.dtype());
        batch_norm_backward(dy.data<T>().data(), xhat.data<T>().data(), data_or_null<T>(gamma),
                            rstd.data(), L, g.data<T>().data(), dx.data<T>().data(), dgamma.data(),
                            dbeta.data());
      }
    });
    const DType t = xhat.dtype();
    return {dx, gamma.defined() ? to_tensor(dgamma, t) : Tensor(), to_tensor(dbeta, t)};
  }
  std::string_view name() const override { return eval ? "batch_norm_eval" : "batch_norm"; }
  void release() override { xhat = gamma = Tensor(); }
};

Tensor bias_tensor(std::string_view op, const Variable& bias, const Tensor& x, std::int64_t C) {
  return affine_tensor(op, bias, x, C, "bias");
}

}  // namespace

Variable batch_norm_train(const Variable& x, const Variable& weight, const Variable& bias,
                          double eps, BatchStats* stats) {
  constexpr std::string_view op = "batch_norm";
  check_channels(op, x.data(), x.data().ndim() >= 2 ? x.data().dim(1) : 0, 2, 5);
  check_eps(op, eps);
  const Tensor xc = x.data().contiguous();
  const SetLayout L = channel_layout(xc.shape());
  if (L.m() <= 1) {
    throw ValueError(fmt::format("{}: expected more than 1 value per channel when training (x: {})",
                                 op, to_string(xc.shape())));
  }
  const Tensor gamma = affine_tensor(op, weight, xc, L.sets, "weight");
  const Tensor beta = bias_tensor(op, bias, xc, L.sets);
  const auto C = static_cast<std::size_t>(L.sets);
  std::vector<double> mean(C), var(C), rstd(C);
  Tensor xhat = Tensor::empty(xc.shape(), xc.dtype());
  Tensor y = Tensor::empty(xc.shape(), xc.dtype());
  visit_float(xc.dtype(), op, [&]<class T>() {
    batch_norm_forward(xc.data<T>().data(), data_or_null<T>(gamma), data_or_null<T>(beta), L, eps,
                       mean.data(), var.data(), rstd.data(), xhat.data<T>().data(),
                       y.data<T>().data());
  });
  if (stats != nullptr) {
    *stats = {mean, var, L.m()};
  }
  std::shared_ptr<BatchNormNode> node;
  if (any_requires_grad({x, weight, bias})) {
    node = std::make_shared<BatchNormNode>();
    node->xhat = xhat;
    node->gamma = gamma;
    node->rstd = std::move(rstd);
  }
  return make_output(y, node, {x, weight, bias});
}

Variable batch_norm_with_constants(const Variable& x, const std::vector<double>& mean,
                                   std::vector<double> rstd, const Variable& weight,
                                   const Variable& bias) {
  constexpr std::string_view op = "batch_norm_eval";
  check_channels(op, x.data(), x.data().ndim() >= 2 ? x.data().dim(1) : 0, 2, 5);
  const Tensor xc = x.data().contiguous();
  const SetLayout L = channel_layout(xc.shape());
  if (std::ssize(mean) != L.sets || std::ssize(rstd) != L.sets) {
    throw ShapeError(fmt::format("{}: {} means and {} rstds for {} channels (x: {})", op,
                                 mean.size(), rstd.size(), L.sets, to_string(xc.shape())));
  }
  const Tensor gamma = affine_tensor(op, weight, xc, L.sets, "weight");
  const Tensor beta = bias_tensor(op, bias, xc, L.sets);
  Tensor xhat = Tensor::empty(xc.shape(), xc.dtype());
  Tensor y = Tensor::empty(xc.shape(), xc.dtype());
  visit_float(xc.dtype(), op, [&]<class T>() {
    batch_norm_eval_forward(xc.data<T>().data(), data_or_null<T>(gamma), data_or_null<T>(beta),
                            mean.data(), rstd.data(), L, xhat.data<T>().data(), y.data<T>().data());
  });
  std::shared_ptr<BatchNormNode> node;
  if (any_requires_grad({x, weight, bias})) {
    node = std::make_shared<BatchNormNode>();
    node->xhat = xhat;
    node->gamma = gamma;
    node->rstd = std::move(rstd);
    node->eval = true;
  }
  return make_output(y, node, {x, weight, bias});
}

Variable batch_norm_eval(const Variable& x, const Tensor& running_mean, const Tensor& running_var,
                         const Variable& weight, const Variable& bias, double eps) {
  constexpr std::string_view op = "batch_norm_eval";
  check_channels(op, x.data(), x.data().ndim() >= 2 ? x.data().dim(1) : 0, 2, 5);
  check_eps(op, eps);
  const std::int64_t C = x.data().dim(1);
  if (running_mean.numel() != C || running_var.numel() != C) {
    throw ShapeError(
        fmt::format("{}: running statistics do not match the {} channels ({}, {}, x: {})", op, C,
                    describe("running_mean", running_mean), describe("running_var", running_var),
                    to_string(x.shape())));
  }
  return batch_norm_with_constants(x, to_doubles(running_mean),
                                   rstd_from_var(to_doubles(running_var), eps), weight, bias);
}

void update_running_stats(Tensor& running_mean, Tensor& running_var, const BatchStats& stats,
                          double factor) {
  const double bessel = static_cast<double>(stats.m) / static_cast<double>(stats.m - 1);
  std::vector<double> unbiased(stats.var.size());
  for (std::size_t c = 0; c < unbiased.size(); ++c) {
    unbiased[c] = stats.var[c] * bessel;  // eq. BN11
  }
  blend_(running_mean, stats.mean, factor);
  blend_(running_var, unbiased, factor);
}

BatchNorm::BatchNorm(std::int64_t num_features, const BatchNormOptions& options)
    : num_features_(num_features), options_(options) {
  if (num_features <= 0) {
    throw ValueError(
        fmt::format("batch_norm: num_features must be positive (num_features: {})", num_features));
  }
  check_eps("batch_norm", options.eps);
  if (options.momentum && !(*options.momentum >= 0.0 && *options.momentum <= 1.0)) {
    throw ValueError(
        fmt::format("batch_norm: momentum must be in [0, 1] (momentum: {})", *options.momentum));
  }
  if (options.affine) {
    weight_ = Variable(Tensor::ones({num_features}, options.dtype), true);
    bias_ = Variable(Tensor::zeros({num_features}, options.dtype), true);
  }
  if (options.track_running_stats) {
    running_mean_ = Tensor::zeros({num_features}, options.dtype);
    running_var_ = Tensor::ones({num_features}, options.dtype);
    num_batches_tracked_ = Tensor::zeros({}, DType::i64);
  }
  register_parameter("weight", &weight_);
  register_parameter("bias", &bias_);
  register_buffer("running_mean", &running_mean_);
  register_buffer("running_var", &running_var_);
  register_buffer("num_batches_tracked", &num_batches_tracked_);
}

Variable BatchNorm::run(const Variable& x, const Variable& weight, const Variable& bias) {
  check_channels("batch_norm", x.data(), num_features_, 2, 5);
  // PyTorch: batch statistics in training, and always when no running statistics are kept.
  if (is_training() || !options_.track_running_stats) {
    BatchStats stats;
    Variable y = batch_norm_train(x, weight, bias, options_.eps, &stats);
    if (is_training() && options_.track_running_stats) {
      const std::int64_t tracked = static_cast<std::int64_t>(num_batches_tracked_.item()) + 1;
      num_batches_tracked_.set({}, static_cast<double>(tracked));
      const double factor =
          options_.momentum ? *options_.momentum : 1.0 / static_cast<double>(tracked);
      update_running_stats(running_mean_, running_var_, stats, factor);
    }
    return y;
  }
  return batch_norm_eval(x, running_mean_, running_var_, weight, bias, options_.eps);
}

Variable BatchNorm::forward(const Variable& x) {
  return run(x, weight_, bias_);
}

Tensor BatchNorm::forward_no_grad(const Tensor& x) {
  return run(Variable(x), frozen(weight_), frozen(bias_)).data();
}

std::string BatchNorm::extra_repr() const {
  const std::string momentum =
      options_.momentum ? fmt::format("{}", *options_.momentum) : std::string("None");
  return fmt::format("{}, eps={}, momentum={}, affine={}, track_running_stats={}", num_features_,
                     options_.eps, momentum, options_.affine ? "True" : "False",
                     options_.track_running_stats ? "True" : "False");
}

}  // namespace normlab
