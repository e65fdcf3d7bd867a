// layers/norm/group_norm.cpp: GroupNorm's kernels, node and module.
// Equations GN1–GN8: docs/normalization/group_norm.md; D1–D5: docs/normalization/derivation.md.
#include "layers/norm/group_norm.h"

#include <fmt/format.h>

#include <cmath>

#include "autograd/node.h"
#include "core/error.h"

namespace normlab {

SetLayout group_norm_layout(const Shape& s, std::int64_t G) {  // same sample, same group (eq. 7)
  const std::int64_t N = s[0], C = s[1], HW = numel_from(s, 2);
  if (G <= 0 || C % G != 0) {
    throw ShapeError(fmt::format("group_norm: {} channels are not divisible into {} groups (x: {})",
                                 C, G, to_string(s)));
  }
  return {.outer = 1, .sets = N * G, .inner = (C / G) * HW};
}

// forward, eq. GN1–GN4, x (N, C, HW) seen twice: as (1, N·G, (C/G)·HW) for the statistics and
// as (N, C, HW) for the per-channel affine:
//   μ_ng = mean over group g of sample n,  rstd_ng = 1/sqrt(σ²_ng + ε),  x̂ = (x − μ_ng)·rstd_ng,
//   y = γ_c·x̂ + β_c
// mean, var, rstd: (N·G)
template <class T>
void group_norm_forward(const T* x, const T* gamma, const T* beta, SetLayout groups,
                        SetLayout channels, double eps, double* mean, double* var, double* rstd,
                        T* xhat, T* y) {
  set_mean_var(x, groups, mean, var);  // step 1: eq. GN1, GN2
  for (std::int64_t s = 0; s < groups.sets; ++s) {
    rstd[s] = 1.0 / std::sqrt(var[s] + eps);
  }
  set_normalize_forward(x, mean, rstd, groups, xhat);  // step 2: eq. GN3
  set_affine_forward(xhat, gamma, beta, channels, y);  // step 3: eq. GN4
}

// backward, eq. GN5–GN8, given dy (N, C, HW) and the saved x̂, rstd (N·G):
//   step 1  dβ_c = Σ_{n,hw} dy          dγ_c = Σ_{n,hw} dy·x̂      (per channel, eq. GN5, GN6)
//   step 2  g    = γ_c·dy                                        (∂L/∂x̂, eq. GN7)
//   step 3  dx   = set_normalize_backward(g, x̂, rstd, groups)   (through μ_ng and σ_ng, eq. GN8 =
//   D4)
template <class T>
void group_norm_backward(const T* dy, const T* xhat, const T* gamma, const double* rstd,
                         SetLayout groups, SetLayout channels, T* g, T* dx, double* dgamma,
                         double* dbeta) {
  set_sums(dy, xhat, channels, dbeta, dgamma);
  set_scale(dy, gamma, channels, g);
  set_normalize_backward(g, xhat, rstd, groups, dx);
}

namespace {

struct GroupNormNode final : Node {
  Tensor xhat, gamma;        // x̂: shape of x; γ: (C) or undefined
  std::vector<double> rstd;  // (N·G)
  std::int64_t G = 1;

  std::vector<Tensor> backward(const Tensor& dy_in) override {
    const Tensor dy = dy_in.contiguous();
    const SetLayout groups = group_norm_layout(xhat.shape(), G);
    const SetLayout channels = channel_layout(xhat.shape());
    Tensor g = Tensor::empty(xhat.shape(), xhat.dtype());
    Tensor dx = Tensor::empty(xhat.shape(), xhat.dtype());
    std::vector<double> dgamma(static_cast<std::size_t>(channels.sets)), dbeta(dgamma.size());
    visit_float(xhat.dtype(), name(), [&]<class T>() {
      group_norm_backward(dy.data<T>().data(), xhat.data<T>().data(), data_or_null<T>(gamma),
                          rstd.data(), groups, channels, g.data<T>().data(), dx.data<T>().data(),
                          dgamma.data(), dbeta.data());
    });
    const DType t = xhat.dtype();
    return {dx, gamma.defined() ? to_tensor(dgamma, t) : Tensor(), to_tensor(dbeta, t)};
  }
  std::string_view name() const override { return "group_norm"; }
  void release() override { xhat = gamma = Tensor(); }
};

}  // namespace

Variable group_norm(const Variable& x, std::int64_t num_groups, const Variable& weight,
                    const Variable& bias, double eps) {
  constexpr std::string_view op = "group_norm";
  check_channels(op, x.data(), x.data().ndim() >= 2 ? x.data().dim(1) : 0, 2, 8);
  check_eps(op, eps);
  const Tensor xc = x.data().contiguous();
  const SetLayout groups = group_norm_layout(xc.shape(), num_groups);
  const SetLayout channels = channel_layout(xc.shape());
  const Tensor gamma = affine_tensor(op, weight, xc, channels.sets, "weight");
  const Tensor beta = affine_tensor(op, bias, xc, channels.sets, "bias");
  std::vector<double> mean(static_cast<std::size_t>(groups.sets)), var(mean.size()),
      rstd(mean.size());
  Tensor xhat = Tensor::empty(xc.shape(), xc.dtype());
  Tensor y = Tensor::empty(xc.shape(), xc.dtype());
  visit_float(xc.dtype(), op, [&]<class T>() {
    group_norm_forward(xc.data<T>().data(), data_or_null<T>(gamma), data_or_null<T>(beta), groups,
                       channels, eps, mean.data(), var.data(), rstd.data(), xhat.data<T>().data(),
                       y.data<T>().data());
  });
  std::shared_ptr<GroupNormNode> node;
  if (any_requires_grad({x, weight, bias})) {
    node = std::make_shared<GroupNormNode>();
    node->xhat = xhat;
    node->gamma = gamma;
    node->rstd = std::move(rstd);
    node->G = num_groups;
  }
  return make_output(y, node, {x, weight, bias});
}

GroupNorm::GroupNorm(std::int64_t num_groups, std::int64_t num_channels,
                     const GroupNormOptions& options)
    : num_groups_(num_groups), num_channels_(num_channels), options_(options) {
  if (num_channels <= 0 || num_groups <= 0 || num_channels % num_groups != 0) {
    throw ShapeError(
        fmt::format("group_norm: {} channels are not divisible into {} groups (num_groups: {}, "
                    "num_channels: {})",
                    num_channels, num_groups, num_groups, num_channels));
  }
  check_eps("group_norm", options.eps);
  if (options.affine) {
    weight_ = Variable(Tensor::ones({num_channels}, options.dtype), true);
    bias_ = Variable(Tensor::zeros({num_channels}, options.dtype), true);
  }
  register_parameter("weight", &weight_);
  register_parameter("bias", &bias_);
}

Variable GroupNorm::forward(const Variable& x) {
  check_channels("group_norm", x.data(), num_channels_, 2, 8);
  return group_norm(x, num_groups_, weight_, bias_, options_.eps);
}

Tensor GroupNorm::forward_no_grad(const Tensor& x) {
  check_channels("group_norm", x, num_channels_, 2, 8);
  return group_norm(Variable(x), num_groups_, frozen(weight_), frozen(bias_), options_.eps).data();
}

std::string GroupNorm::extra_repr() const {
  return fmt::format("{}, {}, eps={}, affine={}", num_groups_, num_channels_, options_.eps,
                     options_.affine ? "True" : "False");
}

}  // namespace normlab
