// layers/norm/rms_norm.cpp: RMSNorm's sets, its reference backward and its module. The forward
// and backward run on the family's fused kernels (set_norm.h) without the mean subtraction.
// Equations RMS1–RMS6: docs/normalization/rms_norm.md.
#include "layers/norm/rms_norm.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "layers/norm/layer_norm.h"
#include "layers/norm/set_norm.h"

namespace normlab {

namespace {

// The input dtype's machine epsilon when eps is unset (PyTorch's nn.RMSNorm).
double effective_eps(std::optional<double> eps, DType dtype) {
  const double e = eps.value_or(dtype == DType::f64 ? std::numeric_limits<double>::epsilon()
                                                    : std::numeric_limits<float>::epsilon());
  check_eps("rms_norm", e);
  return e;
}

}  // namespace

// forward, eq. RMS1–RMS3, x seen as (1, S, D): a set per row, γ elementwise over D:
//   ms_s = (1/D) Σ_d x²,  rrms_s = 1/sqrt(ms_s + ε),  x̂ = x·rrms_s,  y = γ_d·x̂
// The family's fused kernels with the mean left in (NormPlan::subtract_mean = false).
Variable rms_norm(const Variable& x, const Shape& normalized_shape, const Variable& weight,
                  std::optional<double> eps) {
  constexpr std::string_view kOp = "rms_norm";
  check_defined(kOp, x.data());
  if (!is_floating(x.dtype())) {
    throw_not_floating(kOp, x.dtype());
  }
  NormPlan plan = layer_norm_plan(kOp, x.shape(), normalized_shape);
  plan.subtract_mean = false;
  return set_norm(kOp, x, plan, weight, Variable(), effective_eps(eps, x.dtype()));
}

// backward, eq. RMS4–RMS6, given dy (S, D) and x:
//   step 1  dγ_d = Σ_s dy·x̂                                   (eq. RMS4)
//   step 2  g    = γ_d·dy                                    (∂L/∂x̂, eq. RMS5)
//   step 3  dx   = rrms_s · (g − x̂·(1/D)·Σ_d g·x̂)            (eq. RMS6: D4 without the mean term)
NormGrads rms_norm_backward_reference(const Tensor& x, const Tensor& dy,
                                      const Shape& normalized_shape, const Tensor& gamma,
                                      std::optional<double> eps) {
  const SetLayout rows = layer_norm_layout("rms_norm", x.shape(), normalized_shape);
  const SetLayout features = feature_layout(rows);
  const double e = effective_eps(eps, x.dtype());
  const Tensor xc = x.contiguous();
  const auto S = static_cast<std::size_t>(rows.sets);
  std::vector<double> sumsq(S), rrms(S), sum_gxhat(S), unused(S);
  Tensor xhat = Tensor::empty(xc.shape(), xc.dtype());
  visit_float(xc.dtype(), "rms_norm", [&]<class T>() {  // eq. RMS1, RMS2
    const T* xp = xc.data<T>().data();
    set_sums(xp, xp, rows, unused.data(), sumsq.data());
    for (std::int64_t s = 0; s < rows.sets; ++s) {
      const auto si = static_cast<std::size_t>(s);
      rrms[si] = 1.0 / std::sqrt(sumsq[si] / static_cast<double>(rows.inner) + e);
      for (std::int64_t d = 0; d < rows.inner; ++d) {
        const std::int64_t k = s * rows.inner + d;
        xhat.data<T>()[static_cast<std::size_t>(k)] =
            static_cast<T>(static_cast<double>(xp[k]) * rrms[si]);
      }
    }
  });
  NormGrads grads = affine_grads_reference(dy, xhat, features);  // step 1
  grads.dbeta = Tensor();
  const Tensor g = scale_reference(dy, gamma, features);  // step 2
  grads.dx = Tensor::empty(xc.shape(), xc.dtype());
  visit_float(xc.dtype(), "rms_norm", [&]<class T>() {  // step 3
    const T* gp = g.data<T>().data();
    const T* xh = xhat.data<T>().data();
    T* dx = grads.dx.data<T>().data();
    set_sums(gp, xh, rows, unused.data(), sum_gxhat.data());
    const double D = static_cast<double>(rows.inner);
    for (std::int64_t s = 0; s < rows.sets; ++s) {
      const auto si = static_cast<std::size_t>(s);
      for (std::int64_t d = 0; d < rows.inner; ++d) {
        const std::int64_t k = s * rows.inner + d;
        dx[k] = static_cast<T>(rrms[si] * (static_cast<double>(gp[k]) -
                                           static_cast<double>(xh[k]) * sum_gxhat[si] / D));
      }
    }
  });
  return grads;
}

RMSNorm::RMSNorm(Shape normalized_shape, const RMSNormOptions& options)
    : AffineNorm(checked_normalized_shape("rms_norm", normalized_shape), options.dtype,
                 options.elementwise_affine, Beta::without),
      normalized_shape_(std::move(normalized_shape)),
      options_(options) {
  if (options.eps) {
    check_eps("rms_norm", *options.eps);
  }
}

Variable RMSNorm::normalize(const Variable& x, const Variable& weight,
                            const Variable& /*bias: RMSNorm has none*/) {
  return rms_norm(x, normalized_shape_, weight, options_.eps);
}

std::string RMSNorm::extra_repr() const {
  const std::string eps = options_.eps ? fmt::format("{}", *options_.eps) : std::string("None");
  return fmt::format("{}, eps={}, elementwise_affine={}", python_shape(normalized_shape_), eps,
                     options_.elementwise_affine ? "True" : "False");
}

}  // namespace normlab
