// layers/norm/rms_norm.cpp: RMSNorm's kernels, node and module.
// Equations RMS1–RMS6: docs/normalization/rms_norm.md.
#include "layers/norm/rms_norm.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "autograd/node.h"
#include "core/error.h"
#include "layers/norm/layer_norm.h"
#include "layers/norm/norm_core.h"

namespace normlab {

// forward, eq. RMS1–RMS3, x seen as (1, S, D) for the statistics and (S, D, 1) for the affine:
//   ms_s = (1/D) Σ_d x²,  rrms_s = 1/sqrt(ms_s + ε),  x̂ = x·rrms_s,  y = γ_d·x̂
// rrms: (S); sum, sumsq: scratch (S)
template <class T>
void rms_norm_forward(const T* x, const T* gamma, SetLayout rows, SetLayout features, double eps,
                      double* sum, double* sumsq, double* rrms, T* xhat, T* y) {
  set_sums(x, x, rows, sum,
           sumsq);  // step 1: Σ x² per row (eq. RMS1); no subtraction, no cancellation
  for (std::int64_t s = 0; s < rows.sets; ++s) {
    rrms[s] = 1.0 / std::sqrt(sumsq[s] / static_cast<double>(rows.inner) + eps);
    for (std::int64_t d = 0; d < rows.inner; ++d) {  // step 2: eq. RMS2
      const std::int64_t k = s * rows.inner + d;
      xhat[k] = static_cast<T>(static_cast<double>(x[k]) * rrms[s]);
    }
  }
  set_affine_forward(xhat, gamma, static_cast<const T*>(nullptr), features, y);  // step 3: eq. RMS3
}

// backward, eq. RMS4–RMS6, given dy (S, D) and the saved x̂, rrms (S):
//   step 1  dγ_d = Σ_s dy·x̂                                   (eq. RMS4)
//   step 2  g    = γ_d·dy                                    (∂L/∂x̂, eq. RMS5)
//   step 3  dx   = rrms_s · (g − x̂·(1/D)·Σ_d g·x̂)            (eq. RMS6: D4 without the mean term)
template <class T>
void rms_norm_backward(const T* dy, const T* xhat, const T* gamma, const double* rrms,
                       SetLayout rows, SetLayout features, T* g, T* dx, double* dgamma,
                       double* scratch, double* sum_gx) {
  set_sums(dy, xhat, features, scratch, dgamma);
  set_scale(dy, gamma, features, g);
  set_sums(g, xhat, rows, scratch, sum_gx);
  const double D = static_cast<double>(rows.inner);
  for (std::int64_t s = 0; s < rows.sets; ++s) {
    for (std::int64_t d = 0; d < rows.inner; ++d) {
      const std::int64_t k = s * rows.inner + d;
      const double gk = static_cast<double>(g[k]), xk = static_cast<double>(xhat[k]);
      dx[k] = static_cast<T>(rrms[s] * (gk - xk * sum_gx[s] / D));
    }
  }
}

namespace {

SetLayout feature_layout(SetLayout rows) {
  return {.outer = rows.sets, .sets = rows.inner, .inner = 1};
}

struct RMSNormNode final : Node {
  Tensor xhat, gamma;        // x̂: shape of x; γ: normalized_shape or undefined
  std::vector<double> rrms;  // (S)
  SetLayout rows;

  std::vector<Tensor> backward(const Tensor& dy_in) override {
    const Tensor dy = dy_in.contiguous();
    const SetLayout features = feature_layout(rows);
    Tensor g = Tensor::empty(xhat.shape(), xhat.dtype());
    Tensor dx = Tensor::empty(xhat.shape(), xhat.dtype());
    std::vector<double> dgamma(static_cast<std::size_t>(rows.inner)), sum_gx(rrms.size());
    std::vector<double> scratch(std::max(dgamma.size(), sum_gx.size()));
    visit_float(xhat.dtype(), name(), [&]<class T>() {
      rms_norm_backward(dy.data<T>().data(), xhat.data<T>().data(), data_or_null<T>(gamma),
                        rrms.data(), rows, features, g.data<T>().data(), dx.data<T>().data(),
                        dgamma.data(), scratch.data(), sum_gx.data());
    });
    return {dx, gamma.defined() ? to_tensor(dgamma, xhat.dtype()).view(gamma.shape()) : Tensor()};
  }
  std::string_view name() const override { return "rms_norm"; }
  void release() override { xhat = gamma = Tensor(); }
};

}  // namespace

Variable rms_norm(const Variable& x, const Shape& normalized_shape, const Variable& weight,
                  std::optional<double> eps) {
  constexpr std::string_view op = "rms_norm";
  check_defined(op, x.data());
  const Tensor xc = x.data().contiguous();
  const SetLayout rows = layer_norm_layout(op, xc.shape(), normalized_shape);
  const SetLayout features = feature_layout(rows);
  const Tensor gamma = affine_tensor(op, weight, xc, rows.inner, "weight");
  const auto S = static_cast<std::size_t>(rows.sets);
  std::vector<double> sum(S), sumsq(S), rrms(S);
  Tensor xhat = Tensor::empty(xc.shape(), xc.dtype());
  Tensor y = Tensor::empty(xc.shape(), xc.dtype());
  visit_float(xc.dtype(), op, [&]<class T>() {
    const double e = eps.value_or(std::numeric_limits<T>::epsilon());
    check_eps(op, e);
    rms_norm_forward(xc.data<T>().data(), data_or_null<T>(gamma), rows, features, e, sum.data(),
                     sumsq.data(), rrms.data(), xhat.data<T>().data(), y.data<T>().data());
  });
  std::shared_ptr<RMSNormNode> node;
  if (any_requires_grad({x, weight})) {
    node = std::make_shared<RMSNormNode>();
    node->xhat = xhat;
    node->gamma = gamma.defined() ? gamma.view(normalized_shape) : Tensor();
    node->rrms = std::move(rrms);
    node->rows = rows;
  }
  return make_output(y, node, {x, weight});
}

RMSNorm::RMSNorm(Shape normalized_shape, const RMSNormOptions& options)
    : normalized_shape_(std::move(normalized_shape)), options_(options) {
  if (normalized_shape_.empty() || shape_numel(normalized_shape_) <= 0) {
    throw ValueError(fmt::format("rms_norm: normalized_shape must be non-empty and positive ({})",
                                 normlab::to_string(normalized_shape_)));
  }
  if (options.eps) {
    check_eps("rms_norm", *options.eps);
  }
  if (options.elementwise_affine) {
    weight_ = Variable(Tensor::ones(normalized_shape_, options.dtype), true);
  }
  register_parameter("weight", &weight_);
}

Variable RMSNorm::forward(const Variable& x) {
  return rms_norm(x, normalized_shape_, weight_, options_.eps);
}

Tensor RMSNorm::forward_no_grad(const Tensor& x) {
  return rms_norm(Variable(x), normalized_shape_, frozen(weight_), options_.eps).data();
}

std::string RMSNorm::extra_repr() const {
  std::string shape;
  for (std::size_t i = 0; i < normalized_shape_.size(); ++i) {
    shape += fmt::format("{}{}", i == 0 ? "" : ", ", normalized_shape_[i]);
  }
  const std::string eps = options_.eps ? fmt::format("{}", *options_.eps) : std::string("None");
  return fmt::format("({}{}), eps={}, elementwise_affine={}", shape,
                     normalized_shape_.size() == 1 ? "," : "", eps,
                     options_.elementwise_affine ? "True" : "False");
}

}  // namespace normlab
