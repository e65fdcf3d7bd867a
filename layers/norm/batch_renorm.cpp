// layers/norm/batch_renorm.cpp: Batch Renormalization's training kernels, node and module.
// Equations BRN1–BRN12: docs/normalization/batch_renorm.md; D1–D5:
// docs/normalization/derivation.md.
#include "layers/norm/batch_renorm.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "autograd/node.h"
#include "core/error.h"
#include "core/threads.h"
#include "layers/norm/norm_core.h"

namespace normlab {

// forward (training), eq. BRN1–BRN6 over S_c = all (n, hw) of channel c:
//   μ_B, σ_B = sqrt(σ²_B + ε)                                      (eq. BRN1, BRN2)
//   r = clip(σ_B/σ, 1/r_max, r_max),  d = clip((μ_B − μ)/σ, ±d_max)  (eq. BRN3, BRN4; constants)
//   z = (x − μ_B)/σ_B,  x̂ = z·r + d,  y = γ_c·x̂ + β_c             (eq. BRN5, BRN6)
// x, z, y: (N, C, HW); mu_run, sigma_run, and every per-channel output: (C)
template <class T>
void batch_renorm_forward(const T* x, const T* gamma, const T* beta, const double* mu_run,
                          const double* sigma_run, double r_max, double d_max, double eps,
                          SetLayout L, double* mean, double* sigma, double* rstd, double* r,
                          double* d, T* z, T* y) {
  set_mean_var(x, L, mean, sigma);  // step 1: μ_B and σ²_B
  for (std::int64_t c = 0; c < L.sets; ++c) {
    sigma[c] = std::sqrt(sigma[c] + eps);  // step 2: σ_B, r and d
    rstd[c] = 1.0 / sigma[c];
    r[c] = std::clamp(sigma[c] / sigma_run[c], 1.0 / r_max, r_max);
    d[c] = std::clamp((mean[c] - mu_run[c]) / sigma_run[c], -d_max, d_max);
  }
  set_normalize_forward(x, mean, rstd, L, z);  // step 3: z, then y = γ·(z·r + d) + β
#pragma omp parallel for collapse(2) if (L.outer * L.sets > 1 && L.sets * L.m() >= kParallelGrain)
  for (std::int64_t a = 0; a < L.outer; ++a) {
    for (std::int64_t c = 0; c < L.sets; ++c) {
      const double gc = gamma != nullptr ? static_cast<double>(gamma[c]) : 1.0;
      const double bc = beta != nullptr ? static_cast<double>(beta[c]) : 0.0;
      const std::int64_t base = (a * L.sets + c) * L.inner;
      for (std::int64_t k = 0; k < L.inner; ++k) {
        const double xhat = static_cast<double>(z[base + k]) * r[c] + d[c];
        y[base + k] = static_cast<T>(gc * xhat + bc);
      }
    }
  }
}

// backward (training), eq. BRN7–BRN10, given dy (N, C, HW), the saved z, rstd_B, r, d (C):
//   step 1  dβ_c = Σ dy        dγ_c = Σ dy·x̂ = r_c·Σ dy·z + d_c·Σ dy     (eq. BRN7, BRN8)
//   step 2  g    = γ_c·r_c·dy                                (∂L/∂z, r and d constant, eq. BRN9)
//   step 3  dx   = set_normalize_backward(g, z, rstd_B, L)   (through μ_B and σ_B, eq. BRN10 = D4)
template <class T>
void batch_renorm_backward(const T* dy, const T* z, const T* gamma, const double* rstd,
                           const double* r, const double* d, SetLayout L, T* g, T* dx,
                           double* dgamma, double* dbeta) {
  set_sums(dy, z, L, dbeta, dgamma);
  for (std::int64_t c = 0; c < L.sets; ++c) {
    dgamma[c] = r[c] * dgamma[c] + d[c] * dbeta[c];
  }
  for (std::int64_t a = 0; a < L.outer; ++a) {
    for (std::int64_t c = 0; c < L.sets; ++c) {
      const double k = (gamma != nullptr ? static_cast<double>(gamma[c]) : 1.0) * r[c];
      const std::int64_t base = (a * L.sets + c) * L.inner;
      for (std::int64_t i = 0; i < L.inner; ++i) {
        g[base + i] = static_cast<T>(k * static_cast<double>(dy[base + i]));
      }
    }
  }
  set_normalize_backward(g, z, rstd, L, dx);
}

namespace {

struct BatchRenormNode final : Node {
  Tensor z, gamma;                 // z = (x − μ_B)/σ_B: shape of x; γ: (C) or undefined
  std::vector<double> rstd, r, d;  // (C)

  std::vector<Tensor> backward(const Tensor& dy_in) override {
    const Tensor dy = dy_in.contiguous();
    const SetLayout L = channel_layout(z.shape());
    Tensor g = Tensor::empty(z.shape(), z.dtype());
    Tensor dx = Tensor::empty(z.shape(), z.dtype());
    std::vector<double> dgamma(static_cast<std::size_t>(L.sets)), dbeta(dgamma.size());
    visit_float(z.dtype(), name(), [&]<class T>() {
      batch_renorm_backward(dy.data<T>().data(), z.data<T>().data(), data_or_null<T>(gamma),
                            rstd.data(), r.data(), d.data(), L, g.data<T>().data(),
                            dx.data<T>().data(), dgamma.data(), dbeta.data());
    });
    const DType t = z.dtype();
    return {dx, gamma.defined() ? to_tensor(dgamma, t) : Tensor(), to_tensor(dbeta, t)};
  }
  std::string_view name() const override { return "batch_renorm"; }
  void release() override { z = gamma = Tensor(); }
};

void check_limits(double r_max, double d_max) {
  if (!(r_max >= 1.0) || !(d_max >= 0.0) || !std::isfinite(r_max) || !std::isfinite(d_max)) {
    throw ValueError(fmt::format(
        "batch_renorm: need r_max >= 1 and d_max >= 0 (r_max: {}, d_max: {})", r_max, d_max));
  }
}

}  // namespace

Variable batch_renorm_train(const Variable& x, const Variable& weight, const Variable& bias,
                            const Tensor& running_mean, const Tensor& running_std, double r_max,
                            double d_max, double eps, RenormStats* stats) {
  constexpr std::string_view op = "batch_renorm";
  check_channels(op, x.data(), x.data().ndim() >= 2 ? x.data().dim(1) : 0, 2, 5);
  check_eps(op, eps);
  check_limits(r_max, d_max);
  const Tensor xc = x.data().contiguous();
  const SetLayout L = channel_layout(xc.shape());
  if (L.m() <= 1) {
    throw ValueError(fmt::format("{}: expected more than 1 value per channel when training (x: {})",
                                 op, to_string(xc.shape())));
  }
  if (running_mean.numel() != L.sets || running_std.numel() != L.sets) {
    throw ShapeError(
        fmt::format("{}: running statistics do not match the {} channels ({}, {}, x: {})", op,
                    L.sets, describe("running_mean", running_mean),
                    describe("running_std", running_std), to_string(xc.shape())));
  }
  const Tensor gamma = affine_tensor(op, weight, xc, L.sets, "weight");
  const Tensor beta = affine_tensor(op, bias, xc, L.sets, "bias");
  const std::vector<double> mu_run = to_doubles(running_mean), sigma_run = to_doubles(running_std);
  const auto C = static_cast<std::size_t>(L.sets);
  std::vector<double> mean(C), sigma(C), rstd(C), r(C), d(C);
  Tensor z = Tensor::empty(xc.shape(), xc.dtype());
  Tensor y = Tensor::empty(xc.shape(), xc.dtype());
  visit_float(xc.dtype(), op, [&]<class T>() {
    batch_renorm_forward(xc.data<T>().data(), data_or_null<T>(gamma), data_or_null<T>(beta),
                         mu_run.data(), sigma_run.data(), r_max, d_max, eps, L, mean.data(),
                         sigma.data(), rstd.data(), r.data(), d.data(), z.data<T>().data(),
                         y.data<T>().data());
  });
  if (stats != nullptr) {
    *stats = {mean, sigma, r, d};
  }
  std::shared_ptr<BatchRenormNode> node;
  if (any_requires_grad({x, weight, bias})) {
    node = std::make_shared<BatchRenormNode>();
    node->z = z;
    node->gamma = gamma;
    node->rstd = std::move(rstd);
    node->r = std::move(r);
    node->d = std::move(d);
  }
  return make_output(y, node, {x, weight, bias});
}

BatchRenorm::BatchRenorm(std::int64_t num_features, const BatchRenormOptions& options)
    : num_features_(num_features), options_(options) {
  if (num_features <= 0) {
    throw ValueError(fmt::format("batch_renorm: num_features must be positive (num_features: {})",
                                 num_features));
  }
  check_eps("batch_renorm", options.eps);
  check_limits(options.r_max, options.d_max);
  if (!(options.momentum >= 0.0 && options.momentum <= 1.0)) {
    throw ValueError(
        fmt::format("batch_renorm: momentum must be in [0, 1] (momentum: {})", options.momentum));
  }
  if (options.affine) {
    weight_ = Variable(Tensor::ones({num_features}, options.dtype), true);
    bias_ = Variable(Tensor::zeros({num_features}, options.dtype), true);
  }
  running_mean_ = Tensor::zeros({num_features}, options.dtype);
  running_std_ = Tensor::ones({num_features}, options.dtype);
  num_batches_tracked_ = Tensor::zeros({}, DType::i64);
  register_parameter("weight", &weight_);
  register_parameter("bias", &bias_);
  register_buffer("running_mean", &running_mean_);
  register_buffer("running_std", &running_std_);
  register_buffer("num_batches_tracked", &num_batches_tracked_);
}

void BatchRenorm::set_limits(double r_max, double d_max) {
  check_limits(r_max, d_max);
  options_.r_max = r_max;
  options_.d_max = d_max;
}

Variable BatchRenorm::run(const Variable& x, const Variable& weight, const Variable& bias) {
  check_channels("batch_renorm", x.data(), num_features_, 2, 5);
  if (!is_training()) {
    // eq. BRN12: inference normalizes with the moving averages, x̂ = (x − μ)/σ.
    std::vector<double> rstd = to_doubles(running_std_);
    for (double& v : rstd) {
      v = 1.0 / v;
    }
    return batch_norm_with_constants(x, to_doubles(running_mean_), std::move(rstd), weight, bias);
  }
  RenormStats stats;
  Variable y = batch_renorm_train(x, weight, bias, running_mean_, running_std_, options_.r_max,
                                  options_.d_max, options_.eps, &stats);
  // eq. BRN11: μ ← μ + α(μ_B − μ),  σ ← σ + α(σ_B − σ)
  blend_(running_mean_, stats.mean, options_.momentum);
  blend_(running_std_, stats.std, options_.momentum);
  num_batches_tracked_.set({}, num_batches_tracked_.item() + 1.0);
  return y;
}

Variable BatchRenorm::forward(const Variable& x) {
  return run(x, weight_, bias_);
}

Tensor BatchRenorm::forward_no_grad(const Tensor& x) {
  return run(Variable(x), frozen(weight_), frozen(bias_)).data();
}

std::string BatchRenorm::extra_repr() const {
  return fmt::format("{}, eps={}, momentum={}, r_max={}, d_max={}, affine={}", num_features_,
                     options_.eps, options_.momentum, options_.r_max, options_.d_max,
                     options_.affine ? "True" : "False");
}

}  // namespace normlab
