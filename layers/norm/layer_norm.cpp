// layers/norm/layer_norm.cpp: LayerNorm's kernels, node and module.
// Equations LN1–LN8: docs/normalization/layer_norm.md; D1–D5: docs/normalization/derivation.md.
#include "layers/norm/layer_norm.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "autograd/node.h"
#include "core/error.h"

namespace normlab {

SetLayout layer_norm_layout(std::string_view op, const Shape& x, const Shape& normalized_shape) {
  const auto k = normalized_shape.size();
  const bool fits = x.size() >= k && std::equal(normalized_shape.begin(), normalized_shape.end(),
                                                x.end() - static_cast<std::ptrdiff_t>(k));
  if (!fits || k == 0) {
    throw ShapeError(fmt::format("{}: input does not end with normalized_shape {} (x: {})", op,
                                 to_string(normalized_shape), to_string(x)));
  }
  const std::int64_t D = shape_numel(normalized_shape);
  return {.outer = 1, .sets = D == 0 ? 0 : shape_numel(x) / D, .inner = D};
}

// forward, eq. LN1–LN4, x seen as (1, S, D) for the statistics and as (S, D, 1) for the
// elementwise affine:
//   μ_s = (1/D) Σ_d x,  rstd_s = 1/sqrt(σ²_s + ε),  x̂ = (x − μ_s)·rstd_s,  y = γ_d·x̂ + β_d
// mean, var, rstd: (S); gamma, beta: (D) or null
template <class T>
void layer_norm_forward(const T* x, const T* gamma, const T* beta, SetLayout rows,
                        SetLayout features, double eps, double* mean, double* var, double* rstd,
                        T* xhat, T* y) {
  set_mean_var(x, rows, mean, var);  // step 1: eq. LN1, LN2
  for (std::int64_t s = 0; s < rows.sets; ++s) {
    rstd[s] = 1.0 / std::sqrt(var[s] + eps);
  }
  set_normalize_forward(x, mean, rstd, rows, xhat);    // step 2: eq. LN3
  set_affine_forward(xhat, gamma, beta, features, y);  // step 3: eq. LN4
}

// backward, eq. LN5–LN8, given dy (S, D) and the saved x̂, rstd (S):
//   step 1  dβ_d = Σ_s dy          dγ_d = Σ_s dy·x̂           (per feature d, eq. LN5, LN6)
//   step 2  g    = γ_d·dy                                   (∂L/∂x̂, eq. LN7)
//   step 3  dx   = set_normalize_backward(g, x̂, rstd, rows) (through μ_s and σ_s, eq. LN8 = D4)
template <class T>
void layer_norm_backward(const T* dy, const T* xhat, const T* gamma, const double* rstd,
                         SetLayout rows, SetLayout features, T* g, T* dx, double* dgamma,
                         double* dbeta) {
  set_sums(dy, xhat, features, dbeta, dgamma);
  set_scale(dy, gamma, features, g);
  set_normalize_backward(g, xhat, rstd, rows, dx);
}

namespace {

// (S, D, 1): a set per feature d, for the elementwise affine and its reductions.
SetLayout feature_layout(SetLayout rows) {
  return {.outer = rows.sets, .sets = rows.inner, .inner = 1};
}

struct LayerNormNode final : Node {
  Tensor xhat, gamma;        // x̂: shape of x; γ: normalized_shape or undefined
  std::vector<double> rstd;  // (S)
  SetLayout rows;
  Shape param_shape;

  std::vector<Tensor> backward(const Tensor& dy_in) override {
    const Tensor dy = dy_in.contiguous();
    const SetLayout features = feature_layout(rows);
    Tensor g = Tensor::empty(xhat.shape(), xhat.dtype());
    Tensor dx = Tensor::empty(xhat.shape(), xhat.dtype());
    std::vector<double> dgamma(static_cast<std::size_t>(features.sets)), dbeta(dgamma.size());
    visit_float(xhat.dtype(), name(), [&]<class T>() {
      layer_norm_backward(dy.data<T>().data(), xhat.data<T>().data(), data_or_null<T>(gamma),
                          rstd.data(), rows, features, g.data<T>().data(), dx.data<T>().data(),
                          dgamma.data(), dbeta.data());
    });
    const DType t = xhat.dtype();
    return {dx, gamma.defined() ? to_tensor(dgamma, t).view(param_shape) : Tensor(),
            to_tensor(dbeta, t).view(param_shape)};
  }
  std::string_view name() const override { return "layer_norm"; }
  void release() override { xhat = gamma = Tensor(); }
};

}  // namespace

Variable layer_norm(const Variable& x, const Shape& normalized_shape, const Variable& weight,
                    const Variable& bias, double eps) {
  constexpr std::string_view op = "layer_norm";
  check_defined(op, x.data());
  if (!is_floating(x.dtype())) {
    throw_not_floating(op, x.dtype());
  }
  check_eps(op, eps);
  const Tensor xc = x.data().contiguous();
  const SetLayout rows = layer_norm_layout(op, xc.shape(), normalized_shape);
  const SetLayout features = feature_layout(rows);
  const Tensor gamma = affine_tensor(op, weight, xc, rows.inner, "weight");
  const Tensor beta = affine_tensor(op, bias, xc, rows.inner, "bias");
  const auto S = static_cast<std::size_t>(rows.sets);
  std::vector<double> mean(S), var(S), rstd(S);
  Tensor xhat = Tensor::empty(xc.shape(), xc.dtype());
  Tensor y = Tensor::empty(xc.shape(), xc.dtype());
  visit_float(xc.dtype(), op, [&]<class T>() {
    layer_norm_forward(xc.data<T>().data(), data_or_null<T>(gamma), data_or_null<T>(beta), rows,
                       features, eps, mean.data(), var.data(), rstd.data(), xhat.data<T>().data(),
                       y.data<T>().data());
  });
  std::shared_ptr<LayerNormNode> node;
  if (any_requires_grad({x, weight, bias})) {
    node = std::make_shared<LayerNormNode>();
    node->xhat = xhat;
    node->gamma = gamma;
    node->rstd = std::move(rstd);
    node->rows = rows;
    node->param_shape = normalized_shape;
  }
  return make_output(y, node, {x, weight, bias});
}

LayerNorm::LayerNorm(Shape normalized_shape, const LayerNormOptions& options)
    : normalized_shape_(std::move(normalized_shape)), options_(options) {
  if (normalized_shape_.empty() || shape_numel(normalized_shape_) <= 0) {
    throw ValueError(fmt::format("layer_norm: normalized_shape must be non-empty and positive ({})",
                                 normlab::to_string(normalized_shape_)));
  }
  check_eps("layer_norm", options.eps);
  if (options.elementwise_affine) {
    weight_ = Variable(Tensor::ones(normalized_shape_, options.dtype), true);
    bias_ = Variable(Tensor::zeros(normalized_shape_, options.dtype), true);
  }
  register_parameter("weight", &weight_);
  register_parameter("bias", &bias_);
}

Variable LayerNorm::forward(const Variable& x) {
  return layer_norm(x, normalized_shape_, weight_, bias_, options_.eps);
}

Tensor LayerNorm::forward_no_grad(const Tensor& x) {
  return layer_norm(Variable(x), normalized_shape_, frozen(weight_), frozen(bias_), options_.eps)
      .data();
}

std::string LayerNorm::extra_repr() const {
  std::string shape;
  for (std::size_t i = 0; i < normalized_shape_.size(); ++i) {
    shape += fmt::format("{}{}", i == 0 ? "" : ", ", normalized_shape_[i]);
  }
  return fmt::format("({}{}), eps={}, elementwise_affine={}", shape,
                     normalized_shape_.size() == 1 ? "," : "", options_.eps,
                     options_.elementwise_affine ? "True" : "False");
}

}  // namespace normlab
