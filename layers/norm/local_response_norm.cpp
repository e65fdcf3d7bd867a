// layers/norm/local_response_norm.cpp: LocalResponseNorm's kernels, node and module.
// Equations LRN1–LRN5: docs/normalization/local_response_norm.md.
#include "layers/norm/local_response_norm.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "autograd/node.h"
#include "core/error.h"
#include "core/threads.h"

namespace normlab {

// forward, eq. LRN1–LRN2, x, s, y: (N, C, P) with P = ∏ spatial dims:
//   s_c = k + α/n · Σ_{c' = c − ⌊n/2⌋}^{c + ⌊(n−1)/2⌋} x_{c'}²     (the window cut to [0, C))
//   y_c = x_c · s_c^(−β)
template <class T>
void local_response_norm_forward(const T* x, std::int64_t N, std::int64_t C, std::int64_t P,
                                 std::int64_t n, double alpha, double beta, double k, T* s, T* y) {
  const double a = alpha / static_cast<double>(n);
#pragma omp parallel for collapse(2) if (N * C * P >= kParallelGrain)
  for (std::int64_t b = 0; b < N; ++b) {
    for (std::int64_t c = 0; c < C; ++c) {
      const std::int64_t lo = std::max<std::int64_t>(0, c - n / 2);
      const std::int64_t hi = std::min<std::int64_t>(C - 1, c + (n - 1) / 2);
      const std::int64_t row = (b * C + c) * P;
      for (std::int64_t p = 0; p < P; ++p) {
        double sum = 0.0;
        for (std::int64_t j = lo; j <= hi; ++j) {
          const double v = static_cast<double>(x[(b * C + j) * P + p]);
          sum += v * v;
        }
        const double sc = k + a * sum;  // eq. LRN1
        s[row + p] = static_cast<T>(sc);
        y[row + p] = static_cast<T>(static_cast<double>(x[row + p]) * std::pow(sc, -beta));  // LRN2
      }
    }
  }
}

// backward, eq. LRN3–LRN5, given dy and the saved x, s (N, C, P). x_j enters y_j directly and
// every s_c whose window holds j, i.e. c ∈ [j − ⌊(n−1)/2⌋, j + ⌊n/2⌋]:
//   step 1  t_c  = dy_c · x_c · s_c^(−β−1)                                    (eq. LRN3)
//   step 2  dx_j = dy_j · s_j^(−β) − (2αβ/n) · x_j · Σ_{c: j ∈ W(c)} t_c      (eq. LRN4, LRN5)
template <class T>
void local_response_norm_backward(const T* dy, const T* x, const T* s, std::int64_t N,
                                  std::int64_t C, std::int64_t P, std::int64_t n, double alpha,
                                  double beta, T* t, T* dx) {
  const std::int64_t total = N * C * P;
  for (std::int64_t i = 0; i < total; ++i) {
    const double si = static_cast<double>(s[i]);
    t[i] = static_cast<T>(static_cast<double>(dy[i]) * static_cast<double>(x[i]) *
                          std::pow(si, -beta - 1.0));
  }
  const double coef = 2.0 * alpha * beta / static_cast<double>(n);
#pragma omp parallel for collapse(2) if (total >= kParallelGrain)
  for (std::int64_t b = 0; b < N; ++b) {
    for (std::int64_t j = 0; j < C; ++j) {
      const std::int64_t lo = std::max<std::int64_t>(0, j - (n - 1) / 2);
      const std::int64_t hi = std::min<std::int64_t>(C - 1, j + n / 2);
      const std::int64_t row = (b * C + j) * P;
      for (std::int64_t p = 0; p < P; ++p) {
        double sum_t = 0.0;
        for (std::int64_t c = lo; c <= hi; ++c) {
          sum_t += static_cast<double>(t[(b * C + c) * P + p]);
        }
        const double direct =
            static_cast<double>(dy[row + p]) * std::pow(static_cast<double>(s[row + p]), -beta);
        dx[row + p] = static_cast<T>(direct - coef * static_cast<double>(x[row + p]) * sum_t);
      }
    }
  }
}

namespace {

struct LocalResponseNormNode final : Node {
  Tensor x, s;  // (N, C, *)
  std::int64_t n = 1;
  LocalResponseNormOptions options;

  std::vector<Tensor> backward(const Tensor& dy_in) override {
    const Tensor dy = dy_in.contiguous();
    const std::int64_t N = x.dim(0), C = x.dim(1), P = numel_from(x.shape(), 2);
    Tensor t = Tensor::empty(x.shape(), x.dtype());
    Tensor dx = Tensor::empty(x.shape(), x.dtype());
    visit_float(x.dtype(), name(), [&]<class T>() {
      local_response_norm_backward(dy.data<T>().data(), x.data<T>().data(), s.data<T>().data(), N,
                                   C, P, n, options.alpha, options.beta, t.data<T>().data(),
                                   dx.data<T>().data());
    });
    return {dx};
  }
  std::string_view name() const override { return "local_response_norm"; }
  void release() override { x = s = Tensor(); }
};

void check_options(std::int64_t size, const LocalResponseNormOptions& o) {
  if (size <= 0 || !std::isfinite(o.alpha) || !std::isfinite(o.beta) || !(o.k > 0.0) ||
      !std::isfinite(o.k) || o.alpha < 0.0) {
    throw ValueError(fmt::format(
        "local_response_norm: need size > 0, k > 0 and finite alpha >= 0, beta (size: {}, "
        "alpha: {}, beta: {}, k: {})",
        size, o.alpha, o.beta, o.k));
  }
}

}  // namespace

Variable local_response_norm(const Variable& x, std::int64_t size,
                             const LocalResponseNormOptions& options) {
  constexpr std::string_view op = "local_response_norm";
  check_defined(op, x.data());
  check_options(size, options);
  if (x.data().ndim() < 3) {
    throw ShapeError(
        fmt::format("{}: expected a 3-D or higher input (N, C, ...) but got {}-D (x: {})", op,
                    x.data().ndim(), to_string(x.shape())));
  }
  const Tensor xc = x.data().contiguous();
  const std::int64_t N = xc.dim(0), C = xc.dim(1), P = numel_from(xc.shape(), 2);
  Tensor s = Tensor::empty(xc.shape(), xc.dtype());
  Tensor y = Tensor::empty(xc.shape(), xc.dtype());
  visit_float(xc.dtype(), op, [&]<class T>() {
    local_response_norm_forward(xc.data<T>().data(), N, C, P, size, options.alpha, options.beta,
                                options.k, s.data<T>().data(), y.data<T>().data());
  });
  std::shared_ptr<LocalResponseNormNode> node;
  if (any_requires_grad({x})) {
    node = std::make_shared<LocalResponseNormNode>();
    node->x = xc;
    node->s = s;
    node->n = size;
    node->options = options;
  }
  return make_output(y, node, {x});
}

LocalResponseNorm::LocalResponseNorm(std::int64_t size, const LocalResponseNormOptions& options)
    : size_(size), options_(options) {
  check_options(size, options);
}

Variable LocalResponseNorm::forward(const Variable& x) {
  return local_response_norm(x, size_, options_);
}

Tensor LocalResponseNorm::forward_no_grad(const Tensor& x) {
  return local_response_norm(Variable(x), size_, options_).data();
}

std::string LocalResponseNorm::extra_repr() const {
  return fmt::format("{}, alpha={}, beta={}, k={}", size_, options_.alpha, options_.beta,
                     options_.k);
}

}  // namespace normlab
