#include "layers/optim/sgd.h"

#include <fmt/format.h>

#include "autograd/ops/map_kernel.h"
#include "core/error.h"
#include "core/threads.h"

namespace normlab {

namespace {

// g + λ·θ, the gradient with L2 weight decay; g itself when λ = 0 (as torch, which skips the add)
template <class T>
T decayed(T g, T theta, T lambda) {
  return lambda != T{0} ? g + lambda * theta : g;
}

// The momentum step with `first` and `nesterov` fixed at compile time, so that the loop has no
// branch and vectorizes: b = g (first) or μ·b + (1 − τ)·g;  d = g + μ·b (Nesterov) or b;  θ −= lr·d
template <bool kFirst, bool kNesterov, class T>
void sgd_momentum_update(T* theta, const T* grad, T* buf, std::int64_t n, T lr, T lambda, T mu,
                         T one_minus_tau) {
#pragma omp parallel for simd if (parallel : n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) {
    const T g = decayed(grad[i], theta[i], lambda);
    const T b = kFirst ? g : buf[i] * mu + one_minus_tau * g;
    buf[i] = b;
    const T d = kNesterov ? g + mu * b : b;
    theta[i] = theta[i] + (-lr) * d;
  }
}

// One SGD step on n elements, every scalar rounded to T as torch does for a T tensor.
//   g = dθ + λ·θ;  b = g (first) or μ·b + (1 − τ)·g;  d = g + μ·b (Nesterov) or b;  θ −= lr·d
// theta, grad: (n); buf: (n) or null when μ = 0. first: b is uninitialized and takes g.
// one_minus_tau is 1 − τ rounded once, as torch passes alpha = 1 − dampening.
template <class T>
void sgd_update(T* theta, const T* grad, T* buf, std::int64_t n, T lr, T lambda, T mu,
                T one_minus_tau, bool nesterov, bool first) {
  if (buf == nullptr) {  // no momentum: d = g
    map_elementwise(grad, theta, theta, n,
                    [lr, lambda](T g, T th) { return th + (-lr) * decayed(g, th, lambda); });
  } else if (first) {
    (nesterov
         ? sgd_momentum_update<true, true, T>
         : sgd_momentum_update<true, false, T>)(theta, grad, buf, n, lr, lambda, mu, one_minus_tau);
  } else {
    (nesterov ? sgd_momentum_update<false, true, T>
              : sgd_momentum_update<false, false, T>)(theta, grad, buf, n, lr, lambda, mu,
                                                      one_minus_tau);
  }
}

}  // namespace

SGD::SGD(std::vector<OptimParam> params, const SGDOptions& options)
    : Optimizer(std::move(params), options.lr, "sgd"), options_(options) {
  detail::check_non_negative("sgd", "momentum", options.momentum);
  detail::check_non_negative("sgd", "weight_decay", options.weight_decay);
  if (!(options.dampening >= 0.0 && options.dampening <= 1.0)) {
    throw ValueError(
        fmt::format("sgd: invalid dampening {} (need 0 <= dampening <= 1)", options.dampening));
  }
  if (options.nesterov && (options.momentum <= 0.0 || options.dampening != 0.0)) {
    throw ValueError(
        fmt::format("sgd: Nesterov momentum requires a momentum and zero dampening (momentum: {}, "
                    "dampening: {})",
                    options.momentum, options.dampening));
  }
}

std::vector<Optimizer::StateKey> SGD::state_keys() const {
  if (options_.momentum == 0.0) {
    return {};
  }
  return {{.key = "momentum_buffer", .scalar = false}};
}

void SGD::step() {
  for (std::size_t i = 0; i < params().size(); ++i) {
    const OptimParam& p = params()[i];
    const Tensor grad = detail::dense_grad("sgd", p);
    if (!grad.defined()) {
      continue;
    }
    Tensor& theta = p.variable->data();
    std::map<std::string, Tensor>& s = state(i);
    const bool use_momentum = options_.momentum != 0.0;
    const bool first = use_momentum && s.count("momentum_buffer") == 0;
    if (first) {
      s["momentum_buffer"] = Tensor::empty(theta.shape(), theta.dtype());
    }
    const double lambda = p.decay ? options_.weight_decay : 0.0;
    visit_float(theta.dtype(), "sgd", [&]<class T>() {
      T* buf = use_momentum ? s["momentum_buffer"].data<T>().data() : nullptr;
      sgd_update<T>(theta.data<T>().data(), grad.data<T>().data(), buf, theta.numel(),
                    static_cast<T>(lr()), static_cast<T>(lambda), static_cast<T>(options_.momentum),
                    static_cast<T>(1.0 - options_.dampening), options_.nesterov, first);
    });
  }
}

}  // namespace normlab
