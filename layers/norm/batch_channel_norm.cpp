// layers/norm/batch_channel_norm.cpp: estimated batch norm, channel norm and their composition.
// Equations BCN1–BCN9: docs/normalization/batch_channel_norm.md; D1–D5:
// docs/normalization/derivation.md.
#include "layers/norm/batch_channel_norm.h"

#include <fmt/format.h>

#include <cmath>

#include "autograd/node.h"
#include "core/error.h"
#include "layers/norm/group_norm.h"
#include "layers/norm/norm_core.h"

namespace normlab {

// ---- estimated batch norm ----

EstimatedBatchNorm::EstimatedBatchNorm(std::int64_t channels,
                                       const EstimatedBatchNormOptions& options)
    : channels_(channels), options_(options) {
  if (channels <= 0) {
    throw ValueError(
        fmt::format("estimated_batch_norm: channels must be positive (channels: {})", channels));
  }
  check_eps("estimated_batch_norm", options.eps);
  if (options.affine) {
    weight_ = Variable(Tensor::ones({channels}, options.dtype), true);
    bias_ = Variable(Tensor::zeros({channels}, options.dtype), true);
  }
  running_mean_ = Tensor::zeros({channels}, options.dtype);
  running_var_ = Tensor::ones({channels}, options.dtype);
  register_parameter("weight", &weight_);
  register_parameter("bias", &bias_);
  register_buffer("running_mean", &running_mean_);
  register_buffer("running_var", &running_var_);
}

Variable EstimatedBatchNorm::run(const Variable& x, const Variable& weight, const Variable& bias) {
  constexpr std::string_view op = "estimated_batch_norm";
  check_channels(op, x.data(), channels_, 2, 8);
  if (is_training()) {
    // eq. BCN1: μ̂ ← (1 − r)·μ̂ + r·μ_B,  σ̂² ← (1 − r)·σ̂² + r·σ²_B   (no gradient through them)
    const Tensor xc = x.data().contiguous();
    const SetLayout L = channel_layout(xc.shape());
    std::vector<double> mean(static_cast<std::size_t>(L.sets)), var(mean.size());
    visit_float(xc.dtype(), op,
                [&]<class T>() { set_mean_var(xc.data<T>().data(), L, mean.data(), var.data()); });
    blend_(running_mean_, mean, options_.momentum);
    blend_(running_var_, var, options_.momentum);
  }
  // eq. BCN2 with constants μ̂ and rstd̂ = 1/sqrt(σ̂² + ε)
  return batch_norm_with_constants(x, to_doubles(running_mean_),
                                   rstd_from_var(to_doubles(running_var_), options_.eps), weight,
                                   bias);
}

Variable EstimatedBatchNorm::forward(const Variable& x) {
  return run(x, weight_, bias_);
}

Tensor EstimatedBatchNorm::forward_no_grad(const Tensor& x) {
  return run(Variable(x), frozen(weight_), frozen(bias_)).data();
}

std::string EstimatedBatchNorm::extra_repr() const {
  return fmt::format("{}, eps={}, momentum={}, affine={}", channels_, options_.eps,
                     options_.momentum, options_.affine ? "True" : "False");
}

// ---- channel norm ----

// forward, eq. BCN3–BCN5, x (N, C, HW) seen as (1, N·G, (C/G)·HW) for the statistics and as
// (N, G, (C/G)·HW) for the per-group affine:
//   x̂ = (x − μ_ng)·rstd_ng,  y = γ_g·x̂ + β_g
template <class T>
void channel_norm_forward(const T* x, const T* gamma, const T* beta, SetLayout groups,
                          SetLayout affine, double eps, double* mean, double* var, double* rstd,
                          T* xhat, T* y) {
  set_mean_var(x, groups, mean, var);  // step 1: eq. BCN3
  for (std::int64_t s = 0; s < groups.sets; ++s) {
    rstd[s] = 1.0 / std::sqrt(var[s] + eps);
  }
  set_normalize_forward(x, mean, rstd, groups, xhat);  // step 2: eq. BCN4
  set_affine_forward(xhat, gamma, beta, affine, y);    // step 3: eq. BCN5
}

// backward, eq. BCN6–BCN9, given dy and the saved x̂, rstd (N·G):
//   step 1  dβ_g = Σ_{n, c∈g, hw} dy      dγ_g = Σ_{n, c∈g, hw} dy·x̂   (per group, eq. BCN6, BCN7)
//   step 2  g    = γ_g·dy                                           (∂L/∂x̂, eq. BCN8)
//   step 3  dx   = set_normalize_backward(g, x̂, rstd, groups)      (eq. BCN9 = D4)
template <class T>
void channel_norm_backward(const T* dy, const T* xhat, const T* gamma, const double* rstd,
                           SetLayout groups, SetLayout affine, T* g, T* dx, double* dgamma,
                           double* dbeta) {
  set_sums(dy, xhat, affine, dbeta, dgamma);
  set_scale(dy, gamma, affine, g);
  set_normalize_backward(g, xhat, rstd, groups, dx);
}

namespace {

// (N, G, (C/G)·HW): one set per group, across the batch; the layout of the per-group affine.
SetLayout group_affine_layout(const Shape& s, std::int64_t G) {
  return {.outer = s[0], .sets = G, .inner = (s[1] / G) * numel_from(s, 2)};
}

struct ChannelNormNode final : Node {
  Tensor xhat, gamma;        // x̂: shape of x; γ: (G) or undefined
  std::vector<double> rstd;  // (N·G)
  std::int64_t G = 1;

  std::vector<Tensor> backward(const Tensor& dy_in) override {
    const Tensor dy = dy_in.contiguous();
    const SetLayout groups = group_norm_layout(xhat.shape(), G);
    const SetLayout affine = group_affine_layout(xhat.shape(), G);
    Tensor g = Tensor::empty(xhat.shape(), xhat.dtype());
    Tensor dx = Tensor::empty(xhat.shape(), xhat.dtype());
    std::vector<double> dgamma(static_cast<std::size_t>(G)), dbeta(dgamma.size());
    visit_float(xhat.dtype(), name(), [&]<class T>() {
      channel_norm_backward(dy.data<T>().data(), xhat.data<T>().data(), data_or_null<T>(gamma),
                            rstd.data(), groups, affine, g.data<T>().data(), dx.data<T>().data(),
                            dgamma.data(), dbeta.data());
    });
    const DType t = xhat.dtype();
    return {dx, gamma.defined() ? to_tensor(dgamma, t) : Tensor(), to_tensor(dbeta, t)};
  }
  std::string_view name() const override { return "channel_norm"; }
  void release() override { xhat = gamma = Tensor(); }
};

}  // namespace

Variable channel_norm(const Variable& x, std::int64_t G, const Variable& weight,
                      const Variable& bias, double eps) {
  constexpr std::string_view op = "channel_norm";
  check_channels(op, x.data(), x.data().ndim() >= 2 ? x.data().dim(1) : 0, 2, 8);
  check_eps(op, eps);
  const Tensor xc = x.data().contiguous();
  const SetLayout groups = group_norm_layout(xc.shape(), G);
  const SetLayout affine = group_affine_layout(xc.shape(), G);
  const Tensor gamma = affine_tensor(op, weight, xc, G, "weight");
  const Tensor beta = affine_tensor(op, bias, xc, G, "bias");
  const auto NG = static_cast<std::size_t>(groups.sets);
  std::vector<double> mean(NG), var(NG), rstd(NG);
  Tensor xhat = Tensor::empty(xc.shape(), xc.dtype());
  Tensor y = Tensor::empty(xc.shape(), xc.dtype());
  visit_float(xc.dtype(), op, [&]<class T>() {
    channel_norm_forward(xc.data<T>().data(), data_or_null<T>(gamma), data_or_null<T>(beta), groups,
                         affine, eps, mean.data(), var.data(), rstd.data(), xhat.data<T>().data(),
                         y.data<T>().data());
  });
  std::shared_ptr<ChannelNormNode> node;
  if (any_requires_grad({x, weight, bias})) {
    node = std::make_shared<ChannelNormNode>();
    node->xhat = xhat;
    node->gamma = gamma;
    node->rstd = std::move(rstd);
    node->G = G;
  }
  return make_output(y, node, {x, weight, bias});
}

ChannelNorm::ChannelNorm(std::int64_t channels, std::int64_t groups,
                         const ChannelNormOptions& options)
    : channels_(channels), groups_(groups), options_(options) {
  if (channels <= 0 || groups <= 0 || channels % groups != 0) {
    throw ShapeError(fmt::format(
        "channel_norm: {} channels are not divisible into {} groups (channels: {}, groups: {})",
        channels, groups, channels, groups));
  }
  check_eps("channel_norm", options.eps);
  if (options.affine) {
    weight_ = Variable(Tensor::ones({groups}, options.dtype), true);
    bias_ = Variable(Tensor::zeros({groups}, options.dtype), true);
  }
  register_parameter("weight", &weight_);
  register_parameter("bias", &bias_);
}

Variable ChannelNorm::forward(const Variable& x) {
  check_channels("channel_norm", x.data(), channels_, 2, 8);
  return channel_norm(x, groups_, weight_, bias_, options_.eps);
}

Tensor ChannelNorm::forward_no_grad(const Tensor& x) {
  check_channels("channel_norm", x, channels_, 2, 8);
  return channel_norm(Variable(x), groups_, frozen(weight_), frozen(bias_), options_.eps).data();
}

std::string ChannelNorm::extra_repr() const {
  return fmt::format("{}, {}, eps={}, affine={}", channels_, groups_, options_.eps,
                     options_.affine ? "True" : "False");
}

// ---- batch-channel norm ----

BatchChannelNorm::BatchChannelNorm(std::int64_t channels, std::int64_t groups,
                                   const BatchChannelNormOptions& options)
    : channels_(channels), groups_(groups), options_(options) {
  channel_norm_ = std::make_unique<ChannelNorm>(
      channels, groups, ChannelNormOptions{.eps = options.eps, .dtype = options.dtype});
  if (options.estimate) {
    batch_norm_ = std::make_unique<EstimatedBatchNorm>(
        channels, EstimatedBatchNormOptions{
                      .eps = options.eps, .momentum = options.momentum, .dtype = options.dtype});
  } else {
    batch_norm_ = std::make_unique<BatchNorm>(
        channels,
        BatchNormOptions{.eps = options.eps, .momentum = options.momentum, .dtype = options.dtype});
  }
  register_module("batch_norm", batch_norm_.get());
  register_module("channel_norm", channel_norm_.get());
}

Variable BatchChannelNorm::forward(const Variable& x) {
  return channel_norm_->forward(batch_norm_->forward(x));
}

Tensor BatchChannelNorm::forward_no_grad(const Tensor& x) {
  return channel_norm_->forward_no_grad(batch_norm_->forward_no_grad(x));
}

std::string BatchChannelNorm::extra_repr() const {
  return fmt::format("{}, {}, eps={}, momentum={}, estimate={}", channels_, groups_, options_.eps,
                     options_.momentum, options_.estimate ? "True" : "False");
}

}  // namespace normlab
