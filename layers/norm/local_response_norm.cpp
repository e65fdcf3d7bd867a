// layers/norm/local_response_norm.cpp: LocalResponseNorm's kernels, node and module.
// Equations LRN1–LRN5: docs/normalization/local_response_norm.md.
#include "layers/norm/local_response_norm.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "autograd/node.h"
#include "core/error.h"
#include "core/multiversion.h"
#include "core/threads.h"

namespace normlab {

namespace {

// One (sample, channel) row at a time, threads over rows. Each row's window sum is n contiguous
// sweeps over the rows of its window (in cache: the neighbouring rows were just read), added into
// a buffer of P doubles, so every loop runs over contiguous memory and vectorizes. s^(−β) for the
// default β = 3/4 is 1/(√s·√√s): square roots vectorize, pow does not.
template <class T>
struct LrnArgs {
  const T *x, *dy, *scale;  // scale = s^(−β), saved by the forward
  std::int64_t C, P, n;
  double alpha_over_n, beta, k;
  T *y, *scale_out, *t, *dx;
};

// acc_p = Σ_{c ∈ [lo, hi]} v_{c,p}² (squares) or Σ v_{c,p} (plain) over the rows of one sample.
template <bool kSquares, class T>
[[gnu::always_inline]] inline void window_sum(const T* sample, std::int64_t lo, std::int64_t hi,
                                              std::int64_t P, double* acc) {
  std::fill(acc, acc + P, 0.0);
  for (std::int64_t c = lo; c <= hi; ++c) {
    const T* v = sample + c * P;
#pragma omp simd
    for (std::int64_t p = 0; p < P; ++p) {
      const double vp = static_cast<double>(v[p]);
      acc[p] += kSquares ? vp * vp : vp;
    }
  }
}

// W(c) = [c − ⌊n/2⌋, c + ⌊(n−1)/2⌋] ∩ [0, C): the channels whose squares enter s_c.
struct Window {
  std::int64_t lo, hi;
};
[[gnu::always_inline]] inline Window window_of(std::int64_t c, std::int64_t n, std::int64_t C) {
  return {std::max<std::int64_t>(0, c - n / 2), std::min<std::int64_t>(C - 1, c + (n - 1) / 2)};
}
// The mirrored window [j − ⌊(n−1)/2⌋, j + ⌊n/2⌋] ∩ [0, C): the channels c whose W(c) holds j.
[[gnu::always_inline]] inline Window mirrored_window_of(std::int64_t j, std::int64_t n,
                                                        std::int64_t C) {
  return {std::max<std::int64_t>(0, j - (n - 1) / 2), std::min<std::int64_t>(C - 1, j + n / 2)};
}

// forward of row (b, c), eq. LRN1–LRN2:
//   s_c = k + α/n · Σ_{c' ∈ W(c)} x_{c'}²,   scale_c = s_c^(−β),   y_c = x_c · scale_c
template <bool kThreeQuarters, class T>
[[gnu::always_inline]] inline void forward_row(const LrnArgs<T>& a, std::int64_t b, std::int64_t c,
                                               double* acc) {
  const Window w = window_of(c, a.n, a.C);
  window_sum<true>(a.x + b * a.C * a.P, w.lo, w.hi, a.P, acc);
  const std::int64_t row = (b * a.C + c) * a.P;
  const T* x = a.x + row;
  T* y = a.y + row;
  T* scale = a.scale_out + row;
#pragma omp simd
  for (std::int64_t p = 0; p < a.P; ++p) {
    const double s = a.k + a.alpha_over_n * acc[p];  // eq. LRN1
    const double sc =
        kThreeQuarters ? 1.0 / (std::sqrt(s) * std::sqrt(std::sqrt(s))) : std::pow(s, -a.beta);
    scale[p] = static_cast<T>(sc);
    y[p] = static_cast<T>(static_cast<double>(x[p]) * sc);  // eq. LRN2
  }
}

// backward step 1 for row (b, c), eq. LRN3: t_c = dy_c · x_c · s_c^(−β−1) = dy_c · x_c · scale_c /
// s_c, with s_c recomputed from x exactly as the forward computed it.
template <class T>
[[gnu::always_inline]] inline void backward_t_row(const LrnArgs<T>& a, std::int64_t b,
                                                  std::int64_t c, double* acc) {
  const Window w = window_of(c, a.n, a.C);
  window_sum<true>(a.x + b * a.C * a.P, w.lo, w.hi, a.P, acc);
  const std::int64_t row = (b * a.C + c) * a.P;
  const T *x = a.x + row, *dy = a.dy + row, *scale = a.scale + row;
  T* t = a.t + row;
#pragma omp simd
  for (std::int64_t p = 0; p < a.P; ++p) {
    const double s = a.k + a.alpha_over_n * acc[p];
    t[p] = static_cast<T>(static_cast<double>(dy[p]) * static_cast<double>(x[p]) *
                          static_cast<double>(scale[p]) / s);
  }
}

// backward step 2 for row (b, j), eq. LRN4–LRN5:
//   dx_j = dy_j · scale_j − (2αβ/n) · x_j · Σ_{c: j ∈ W(c)} t_c
template <class T>
[[gnu::always_inline]] inline void backward_dx_row(const LrnArgs<T>& a, std::int64_t b,
                                                   std::int64_t j, double* acc) {
  const Window w = mirrored_window_of(j, a.n, a.C);
  window_sum<false>(a.t + b * a.C * a.P, w.lo, w.hi, a.P, acc);
  const double coef = 2.0 * a.alpha_over_n * a.beta;
  const std::int64_t row = (b * a.C + j) * a.P;
  const T *x = a.x + row, *dy = a.dy + row, *scale = a.scale + row;
  T* dx = a.dx + row;
#pragma omp simd
  for (std::int64_t p = 0; p < a.P; ++p) {
    dx[p] = static_cast<T>(static_cast<double>(dy[p]) * static_cast<double>(scale[p]) -
                           coef * static_cast<double>(x[p]) * acc[p]);
  }
}

// The multiversioned entry points (core/multiversion.h): one per step and dtype.
NORMLAB_MULTIVERSION void lrn_forward_row(const LrnArgs<float>& a, std::int64_t b, std::int64_t c,
                                          double* acc) {
  a.beta == 0.75 ? forward_row<true>(a, b, c, acc) : forward_row<false>(a, b, c, acc);
}
NORMLAB_MULTIVERSION void lrn_forward_row(const LrnArgs<double>& a, std::int64_t b, std::int64_t c,
                                          double* acc) {
  a.beta == 0.75 ? forward_row<true>(a, b, c, acc) : forward_row<false>(a, b, c, acc);
}
// The backward's two steps: t of a row (eq. LRN3), then dx of a row (eq. LRN4–LRN5).
enum class LrnBackwardStep : std::uint8_t { t, dx };

NORMLAB_MULTIVERSION void lrn_backward_row(const LrnArgs<float>& a, LrnBackwardStep step,
                                           std::int64_t b, std::int64_t c, double* acc) {
  step == LrnBackwardStep::t ? backward_t_row(a, b, c, acc) : backward_dx_row(a, b, c, acc);
}
NORMLAB_MULTIVERSION void lrn_backward_row(const LrnArgs<double>& a, LrnBackwardStep step,
                                           std::int64_t b, std::int64_t c, double* acc) {
  step == LrnBackwardStep::t ? backward_t_row(a, b, c, acc) : backward_dx_row(a, b, c, acc);
}

// Calls row(args, b, c, acc) for every (sample, channel), threads over rows, each thread with its
// own window-sum buffer of P doubles.
template <class T, class Row>
void for_each_row(const LrnArgs<T>& a, std::int64_t N, Row row) {
  const std::int64_t rows = N * a.C;
#pragma omp parallel if (rows > 1 && rows * a.P >= kParallelGrain)
  {
    std::vector<double> acc(static_cast<std::size_t>(a.P));
#pragma omp for schedule(static)
    for (std::int64_t r = 0; r < rows; ++r) {
      row(a, r / a.C, r % a.C, acc.data());
    }
  }
}

}  // namespace

// forward, eq. LRN1–LRN2, x, scale, y: (N, C, P) with P = ∏ spatial dims:
//   s_c = k + α/n · Σ_{c' = c − ⌊n/2⌋}^{c + ⌊(n−1)/2⌋} x_{c'}²     (the window cut to [0, C))
//   y_c = x_c · s_c^(−β)        scale = s^(−β) is kept for the backward
template <class T>
void local_response_norm_forward(const T* x, std::int64_t N, std::int64_t C, std::int64_t P,
                                 std::int64_t n, double alpha, double beta, double k, T* scale,
                                 T* y) {
  const double alpha_over_n = alpha / static_cast<double>(n);
  const LrnArgs<T> a{x,    nullptr, nullptr, C,     P,       n,      alpha_over_n,
                     beta, k,       y,       scale, nullptr, nullptr};
  for_each_row(a, N, [](const LrnArgs<T>& r, std::int64_t b, std::int64_t c, double* acc) {
    lrn_forward_row(r, b, c, acc);
  });
}

// backward, eq. LRN3–LRN5, given dy and the saved x and scale = s^(−β) (N, C, P). x_j enters y_j
// directly and every s_c whose window holds j, i.e. c ∈ [j − ⌊(n−1)/2⌋, j + ⌊n/2⌋]:
//   step 1  t_c  = dy_c · x_c · s_c^(−β−1)                                    (eq. LRN3)
//   step 2  dx_j = dy_j · s_j^(−β) − (2αβ/n) · x_j · Σ_{c: j ∈ W(c)} t_c      (eq. LRN4, LRN5)
template <class T>
void local_response_norm_backward(const T* dy, const T* x, const T* scale, std::int64_t N,
                                  std::int64_t C, std::int64_t P, std::int64_t n, double alpha,
                                  double beta, double k, T* t, T* dx) {
  const double alpha_over_n = alpha / static_cast<double>(n);
  const LrnArgs<T> a{x, dy, scale, C, P, n, alpha_over_n, beta, k, nullptr, nullptr, t, dx};
  for_each_row(a, N, [](const LrnArgs<T>& r, std::int64_t b, std::int64_t c, double* acc) {
    lrn_backward_row(r, LrnBackwardStep::t, b, c, acc);
  });
  for_each_row(a, N, [](const LrnArgs<T>& r, std::int64_t b, std::int64_t j, double* acc) {
    lrn_backward_row(r, LrnBackwardStep::dx, b, j, acc);
  });
}

namespace {

struct LocalResponseNormNode final : Node {
  Tensor x, scale;  // (N, C, *); scale = s^(−β)
  std::int64_t n = 1;
  LocalResponseNormOptions options;

  std::vector<Tensor> backward(const Tensor& dy_in) override {
    const Tensor dy = dy_in.contiguous();
    const std::int64_t N = x.dim(0), C = x.dim(1), P = numel_from(x.shape(), 2);
    Tensor t = Tensor::empty(x.shape(), x.dtype());
    Tensor dx = Tensor::empty(x.shape(), x.dtype());
    visit_float(x.dtype(), name(), [&]<class T>() {
      local_response_norm_backward(dy.data<T>().data(), x.data<T>().data(), scale.data<T>().data(),
                                   N, C, P, n, options.alpha, options.beta, options.k,
                                   t.data<T>().data(), dx.data<T>().data());
    });
    return {dx};
  }
  std::string_view name() const override { return "local_response_norm"; }
  void release() override { x = scale = Tensor(); }
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
  constexpr std::string_view kOp = "local_response_norm";
  check_defined(kOp, x.data());
  check_options(size, options);
  if (x.data().ndim() < 3) {
    throw ShapeError(
        fmt::format("{}: expected a 3-D or higher input (N, C, ...) but got {}-D (x: {})", kOp,
                    x.data().ndim(), to_string(x.shape())));
  }
  const Tensor xc = x.data().contiguous();
  const std::int64_t N = xc.dim(0), C = xc.dim(1), P = numel_from(xc.shape(), 2);
  Tensor scale = Tensor::empty(xc.shape(), xc.dtype());
  Tensor y = Tensor::empty(xc.shape(), xc.dtype());
  visit_float(xc.dtype(), kOp, [&]<class T>() {
    local_response_norm_forward(xc.data<T>().data(), N, C, P, size, options.alpha, options.beta,
                                options.k, scale.data<T>().data(), y.data<T>().data());
  });
  std::shared_ptr<LocalResponseNormNode> node;
  if (any_requires_grad({x})) {
    node = std::make_shared<LocalResponseNormNode>();
    node->x = xc;
    node->scale = scale;
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
