// layers/norm/instance_norm.cpp: InstanceNorm2d's kernels, node and module.
// Equations IN1–IN9: docs/normalization/instance_norm.md; D1–D5: docs/normalization/derivation.md.
#include "layers/norm/instance_norm.h"

#include <fmt/format.h>

#include <cmath>

#include "autograd/node.h"
#include "core/error.h"

namespace normlab {

namespace {
// S_i: same sample, same channel (eq. 5)
SetLayout instance_layout(const Shape& s) {
  return {.outer = 1, .sets = s[0] * s[1], .inner = numel_from(s, 2)};
}
}  // namespace

// forward, eq. IN1–IN4, x (N, C, HW) seen as (1, N·C, HW) for the statistics and as (N, C, HW)
// for the per-channel affine:
//   μ_nc = (1/HW) Σ_hw x,  rstd_nc = 1/sqrt(σ²_nc + ε),  x̂ = (x − μ_nc)·rstd_nc,  y = γ_c·x̂ + β_c
// mean, var, rstd: (N·C)
template <class T>
void instance_norm_forward(const T* x, const T* gamma, const T* beta, SetLayout instances,
                           SetLayout channels, double eps, double* mean, double* var, double* rstd,
                           T* xhat, T* y) {
  set_mean_var(x, instances, mean, var);  // step 1: eq. IN1, IN2
  for (std::int64_t s = 0; s < instances.sets; ++s) {
    rstd[s] = 1.0 / std::sqrt(var[s] + eps);
  }
  set_normalize_forward(x, mean, rstd, instances, xhat);  // step 2: eq. IN3
  set_affine_forward(xhat, gamma, beta, channels, y);     // step 3: eq. IN4
}

// backward, eq. IN5–IN8, given dy (N, C, HW) and the saved x̂, rstd (N·C):
//   step 1  dβ_c = Σ_{n,hw} dy          dγ_c = Σ_{n,hw} dy·x̂          (per channel, eq. IN5, IN6)
//   step 2  g    = γ_c·dy                                            (∂L/∂x̂, eq. IN7)
//   step 3  dx   = set_normalize_backward(g, x̂, rstd, instances)     (eq. IN8 = D4)
template <class T>
void instance_norm_backward(const T* dy, const T* xhat, const T* gamma, const double* rstd,
                            SetLayout instances, SetLayout channels, T* g, T* dx, double* dgamma,
                            double* dbeta) {
  set_sums(dy, xhat, channels, dbeta, dgamma);
  set_scale(dy, gamma, channels, g);
  set_normalize_backward(g, xhat, rstd, instances, dx);
}

namespace {

struct InstanceNormNode final : Node {
  Tensor xhat, gamma;        // x̂: (N, C, H, W); γ: (C) or undefined
  std::vector<double> rstd;  // (N·C)

  std::vector<Tensor> backward(const Tensor& dy_in) override {
    const Tensor dy = dy_in.contiguous();
    const SetLayout instances = instance_layout(xhat.shape());
    const SetLayout channels = channel_layout(xhat.shape());
    Tensor g = Tensor::empty(xhat.shape(), xhat.dtype());
    Tensor dx = Tensor::empty(xhat.shape(), xhat.dtype());
    std::vector<double> dgamma(static_cast<std::size_t>(channels.sets)), dbeta(dgamma.size());
    visit_float(xhat.dtype(), name(), [&]<class T>() {
      instance_norm_backward(dy.data<T>().data(), xhat.data<T>().data(), data_or_null<T>(gamma),
                             rstd.data(), instances, channels, g.data<T>().data(),
                             dx.data<T>().data(), dgamma.data(), dbeta.data());
    });
    const DType t = xhat.dtype();
    return {dx, gamma.defined() ? to_tensor(dgamma, t) : Tensor(), to_tensor(dbeta, t)};
  }
  std::string_view name() const override { return "instance_norm"; }
  void release() override { xhat = gamma = Tensor(); }
};

// eq. IN9: the running statistics take the batch average of the instance statistics.
BatchStats average_over_batch(const std::vector<double>& mean, const std::vector<double>& var,
                              std::int64_t N, std::int64_t C, std::int64_t HW) {
  BatchStats stats{std::vector<double>(static_cast<std::size_t>(C), 0.0),
                   std::vector<double>(static_cast<std::size_t>(C), 0.0), HW};
  for (std::int64_t n = 0; n < N; ++n) {
    for (std::int64_t c = 0; c < C; ++c) {
      const auto nc = static_cast<std::size_t>(n * C + c), cc = static_cast<std::size_t>(c);
      stats.mean[cc] += mean[nc] / static_cast<double>(N);
      stats.var[cc] += var[nc] / static_cast<double>(N);
    }
  }
  return stats;
}

}  // namespace

Variable instance_norm(const Variable& x, const Variable& weight, const Variable& bias, double eps,
                       BatchStats* stats) {
  constexpr std::string_view op = "instance_norm";
  check_channels(op, x.data(), x.data().ndim() == 4 ? x.data().dim(1) : 0, 4, 4);
  check_eps(op, eps);
  const Tensor xc = x.data().contiguous();
  const SetLayout instances = instance_layout(xc.shape());
  const SetLayout channels = channel_layout(xc.shape());
  if (instances.inner <= 1) {
    throw ValueError(fmt::format("{}: expected more than 1 spatial element when training (x: {})",
                                 op, to_string(xc.shape())));
  }
  const Tensor gamma = affine_tensor(op, weight, xc, channels.sets, "weight");
  const Tensor beta = affine_tensor(op, bias, xc, channels.sets, "bias");
  const auto NC = static_cast<std::size_t>(instances.sets);
  std::vector<double> mean(NC), var(NC), rstd(NC);
  Tensor xhat = Tensor::empty(xc.shape(), xc.dtype());
  Tensor y = Tensor::empty(xc.shape(), xc.dtype());
  visit_float(xc.dtype(), op, [&]<class T>() {
    instance_norm_forward(xc.data<T>().data(), data_or_null<T>(gamma), data_or_null<T>(beta),
                          instances, channels, eps, mean.data(), var.data(), rstd.data(),
                          xhat.data<T>().data(), y.data<T>().data());
  });
  if (stats != nullptr) {
    *stats = average_over_batch(mean, var, channels.outer, channels.sets, channels.inner);
  }
  std::shared_ptr<InstanceNormNode> node;
  if (any_requires_grad({x, weight, bias})) {
    node = std::make_shared<InstanceNormNode>();
    node->xhat = xhat;
    node->gamma = gamma;
    node->rstd = std::move(rstd);
  }
  return make_output(y, node, {x, weight, bias});
}

InstanceNorm2d::InstanceNorm2d(std::int64_t num_features, const InstanceNormOptions& options)
    : num_features_(num_features), options_(options) {
  if (num_features <= 0) {
    throw ValueError(fmt::format("instance_norm: num_features must be positive (num_features: {})",
                                 num_features));
  }
  check_eps("instance_norm", options.eps);
  if (!(options.momentum >= 0.0 && options.momentum <= 1.0)) {
    throw ValueError(
        fmt::format("instance_norm: momentum must be in [0, 1] (momentum: {})", options.momentum));
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

Variable InstanceNorm2d::run(const Variable& x, const Variable& weight, const Variable& bias) {
  check_channels("instance_norm", x.data(), num_features_, 4, 4);
  // PyTorch: instance statistics in training, and always when no running statistics are kept.
  if (is_training() || !options_.track_running_stats) {
    BatchStats stats;
    Variable y = instance_norm(x, weight, bias, options_.eps, &stats);
    if (is_training() && options_.track_running_stats) {
      update_running_stats(running_mean_, running_var_, stats, options_.momentum);
    }
    return y;
  }
  return batch_norm_eval(x, running_mean_, running_var_, weight, bias, options_.eps);
}

Variable InstanceNorm2d::forward(const Variable& x) {
  return run(x, weight_, bias_);
}

Tensor InstanceNorm2d::forward_no_grad(const Tensor& x) {
  return run(Variable(x), frozen(weight_), frozen(bias_)).data();
}

std::string InstanceNorm2d::extra_repr() const {
  return fmt::format("{}, eps={}, momentum={}, affine={}, track_running_stats={}", num_features_,
                     options_.eps, options_.momentum, options_.affine ? "True" : "False",
                     options_.track_running_stats ? "True" : "False");
}

}  // namespace normlab
