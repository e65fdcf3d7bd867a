#include "layers/optim/adam.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/threads.h"

namespace normlab {

namespace {

// Scalars of one step, each rounded to T once as torch passes them to a T tensor's kernels.
template <class T>
struct AdamScalars {
  T l2;            // λ added to the gradient (Adam), else 0
  T decay_factor;  // 1 − lr·λ (AdamW), else 1
  T beta1, one_minus_beta1, beta2, one_minus_beta2;
  T bc2_sqrt;  // √(1 − β2^t)
  T eps;
  T neg_step_size;  // −lr / (1 − β1^t)
};

// One Adam/AdamW step on n elements (formulas in adam.h), in torch's order of operations:
//   addcmul  v + ((1 − β2)·g)·g        addcdiv  θ + (−step_size·m) / denom
// theta, grad, m, v: (n); vmax: (n) with AMSGrad (kAmsgrad, fixed at compile time so that the
// loop has no branch and vectorizes), else unused.
template <bool kAmsgrad, class T>
void adam_update(T* theta, const T* grad, T* m, T* v, T* vmax, std::int64_t n,
                 const AdamScalars<T>& scalars) {
  const AdamScalars<T> s = scalars;  // a local copy: its loads leave the loop
#pragma omp parallel for simd if (parallel : n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) {
    // step 1: weight decay, decoupled (AdamW) or as L2 in the gradient (Adam)
    theta[i] = theta[i] * s.decay_factor;
    const T g = grad[i] + s.l2 * theta[i];
    // step 2: first and second moment running averages
    m[i] = m[i] * s.beta1 + s.one_minus_beta1 * g;
    v[i] = v[i] * s.beta2 + s.one_minus_beta2 * g * g;
    // step 3: bias-corrected update, with AMSGrad's running maximum of v
    T vhat = v[i];
    if constexpr (kAmsgrad) {
      vmax[i] = std::max(vmax[i], v[i]);
      vhat = vmax[i];
    }
    const T denom = std::sqrt(vhat) / s.bc2_sqrt + s.eps;
    theta[i] = theta[i] + s.neg_step_size * m[i] / denom;
  }
}

void check_beta(std::string_view op, std::string_view what, double beta) {
  if (!(beta >= 0.0 && beta < 1.0)) {
    throw ValueError(fmt::format("{}: invalid {} {} (need 0 <= beta < 1)", op, what, beta));
  }
}

}  // namespace

AdamFamily::AdamFamily(std::vector<OptimParam> params, const AdamOptions& options, bool decoupled,
                       std::string_view op)
    : Optimizer(std::move(params), options.lr, op), options_(options), decoupled_(decoupled) {
  check_beta(op, "beta1", options.beta1);
  check_beta(op, "beta2", options.beta2);
  detail::check_non_negative(op, "eps", options.eps);
  detail::check_non_negative(op, "weight_decay", options.weight_decay);
}

std::vector<Optimizer::StateKey> AdamFamily::state_keys() const {
  std::vector<StateKey> keys = {{.key = "step", .scalar = true},
                                {.key = "exp_avg", .scalar = false},
                                {.key = "exp_avg_sq", .scalar = false}};
  if (options_.amsgrad) {
    keys.push_back({.key = "max_exp_avg_sq", .scalar = false});
  }
  return keys;
}

void AdamFamily::step() {
  const std::string op = decoupled_ ? "adamw" : "adam";
  for (std::size_t i = 0; i < params().size(); ++i) {
    const OptimParam& p = params()[i];
    const Tensor grad = detail::dense_grad(op, p);
    if (!grad.defined()) {
      continue;
    }
    Tensor& theta = p.variable->data();
    std::map<std::string, Tensor>& st = state(i);
    if (st.count("step") == 0) {
      st["step"] = Tensor::scalar(0.0, DType::i64);
      for (const StateKey& k : state_keys()) {
        if (!k.scalar) {
          st[k.key] = Tensor::zeros(theta.shape(), theta.dtype());
        }
      }
    }
    std::int64_t& t = st["step"].data<std::int64_t>()[0];
    t += 1;
    const double lambda = p.decay ? options_.weight_decay : 0.0;
    const double bc1 = 1.0 - std::pow(options_.beta1, static_cast<double>(t));
    const double bc2 = 1.0 - std::pow(options_.beta2, static_cast<double>(t));
    visit_float(theta.dtype(), op, [&]<class T>() {
      const AdamScalars<T> s = {
          .l2 = static_cast<T>(decoupled_ ? 0.0 : lambda),
          .decay_factor = static_cast<T>(decoupled_ ? 1.0 - lr() * lambda : 1.0),
          .beta1 = static_cast<T>(options_.beta1),
          .one_minus_beta1 = static_cast<T>(1.0 - options_.beta1),
          .beta2 = static_cast<T>(options_.beta2),
          .one_minus_beta2 = static_cast<T>(1.0 - options_.beta2),
          .bc2_sqrt = static_cast<T>(std::sqrt(bc2)),
          .eps = static_cast<T>(options_.eps),
          .neg_step_size = static_cast<T>(-(lr() / bc1)),
      };
      T* vmax = options_.amsgrad ? st["max_exp_avg_sq"].data<T>().data() : nullptr;
      (vmax != nullptr ? adam_update<true, T>
                       : adam_update<false, T>)(theta.data<T>().data(), grad.data<T>().data(),
                                                st["exp_avg"].data<T>().data(),
                                                st["exp_avg_sq"].data<T>().data(), vmax,
                                                theta.numel(), s);
    });
  }
}

}  // namespace normlab
