// autograd/ops/softmax.cpp: log_softmax along a dim and the fused cross-entropy loss
// (log-softmax + negative log-likelihood, mean over the batch), each with its own backward.
// x is viewed as (outer, D, inner) around the softmax dim; the loops run over inner contiguously.
#include "autograd/ops/softmax.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "autograd/ops.h"
#include "autograd/ops/op_util.h"
#include "core/error.h"

namespace normlab {

namespace {

// forward:  y[o,d,i] = x[o,d,i] − lse[o,i],  lse = m + log Σ_d exp(x[o,d,i] − m),  m = max_d
// x[o,d,i] (double accumulators; D > 0)
template <class T>
void log_softmax_forward(const T* x, std::int64_t outer, std::int64_t D, std::int64_t inner, T* y) {
  std::vector<double> m(static_cast<std::size_t>(inner));
  std::vector<double> s(static_cast<std::size_t>(inner));
  for (std::int64_t o = 0; o < outer; ++o) {
    const T* xo = x + o * D * inner;
    T* yo = y + o * D * inner;
    // step 1: the shift m
    for (std::int64_t i = 0; i < inner; ++i) {
      m[static_cast<std::size_t>(i)] = -std::numeric_limits<double>::infinity();
      s[static_cast<std::size_t>(i)] = 0.0;
    }
    for (std::int64_t d = 0; d < D; ++d) {
      for (std::int64_t i = 0; i < inner; ++i) {
        m[static_cast<std::size_t>(i)] =
            std::max(m[static_cast<std::size_t>(i)], static_cast<double>(xo[d * inner + i]));
      }
    }
    // step 2: Σ exp(x − m), then lse = m + log Σ
    for (std::int64_t d = 0; d < D; ++d) {
      for (std::int64_t i = 0; i < inner; ++i) {
        const auto k = static_cast<std::size_t>(i);
        s[k] += std::exp(static_cast<double>(xo[d * inner + i]) - m[k]);
      }
    }
    for (std::int64_t i = 0; i < inner; ++i) {
      const auto k = static_cast<std::size_t>(i);
      s[k] = m[k] + std::log(s[k]);
    }
    // step 3: y = x − lse
    for (std::int64_t d = 0; d < D; ++d) {
      for (std::int64_t i = 0; i < inner; ++i) {
        yo[d * inner + i] =
            static_cast<T>(static_cast<double>(xo[d * inner + i]) - s[static_cast<std::size_t>(i)]);
      }
    }
  }
}
// backward: dx[o,d,i] = dy[o,d,i] − exp(y[o,d,i]) · Σ_d' dy[o,d',i]       (softmax = exp(y))
template <class T>
void log_softmax_backward(const T* dy, const T* y, std::int64_t outer, std::int64_t D,
                          std::int64_t inner, T* dx) {
  std::vector<double> g(static_cast<std::size_t>(inner));
  for (std::int64_t o = 0; o < outer; ++o) {
    const std::int64_t base = o * D * inner;
    for (std::int64_t i = 0; i < inner; ++i) {
      g[static_cast<std::size_t>(i)] = 0.0;
    }
    for (std::int64_t d = 0; d < D; ++d) {
      for (std::int64_t i = 0; i < inner; ++i) {
        g[static_cast<std::size_t>(i)] += static_cast<double>(dy[base + d * inner + i]);
      }
    }
    for (std::int64_t d = 0; d < D; ++d) {
      for (std::int64_t i = 0; i < inner; ++i) {
        const std::int64_t k = base + d * inner + i;
        dx[k] = dy[k] - std::exp(y[k]) * static_cast<T>(g[static_cast<std::size_t>(i)]);
      }
    }
  }
}

// forward:  loss = (1/N) Σ_n (lse_n − x[n, t_n]),  lse_n = m_n + log Σ_c exp(x[n,c] − m_n);
//           also p[n,c] = exp(x[n,c] − lse_n) for the backward.  x, p: (N, C); t: (N); C > 0
template <class T>
double cross_entropy_forward(const T* x, const std::int64_t* t, std::int64_t N, std::int64_t C,
                             T* p) {
  double total = 0.0;
  for (std::int64_t n = 0; n < N; ++n) {
    const T* xn = x + n * C;
    double m = static_cast<double>(xn[0]);
    for (std::int64_t c = 1; c < C; ++c) {
      m = std::max(m, static_cast<double>(xn[c]));
    }
    double s = 0.0;
    for (std::int64_t c = 0; c < C; ++c) {
      s += std::exp(static_cast<double>(xn[c]) - m);
    }
    const double lse = m + std::log(s);
    for (std::int64_t c = 0; c < C; ++c) {
      p[n * C + c] = static_cast<T>(std::exp(static_cast<double>(xn[c]) - lse));
    }
    total += lse - static_cast<double>(xn[t[n]]);
  }
  return total / static_cast<double>(N);
}
// backward: dx[n,c] = dloss / N · (p[n,c] − [c = t_n])
template <class T>
void cross_entropy_backward(T dloss, const T* p, const std::int64_t* t, std::int64_t N,
                            std::int64_t C, T* dx) {
  const T scale = dloss / static_cast<T>(N);
  for (std::int64_t n = 0; n < N; ++n) {
    for (std::int64_t c = 0; c < C; ++c) {
      dx[n * C + c] = scale * p[n * C + c];
    }
    dx[n * C + t[n]] -= scale;
  }
}

// (outer, D, inner) around dim d of shape.
struct SoftmaxLayout {
  std::int64_t outer, D, inner;
};

SoftmaxLayout softmax_layout(const Shape& shape, int d) {
  const std::int64_t D = shape[static_cast<std::size_t>(d)];
  const std::int64_t inner = numel_from(shape, d + 1);
  const std::int64_t outer = D * inner == 0 ? 0 : shape_numel(shape) / (D * inner);
  return {outer, D, inner};
}

// labels: int64 (N) with values in [0, C), matching logits (N, C); throws otherwise.
void check_cross_entropy(const Tensor& logits, const Tensor& labels) {
  const auto both = [&] {
    return fmt::format("logits: {}, labels: {}", to_string(logits.shape()),
                       to_string(labels.shape()));
  };
  if (!is_floating(logits.dtype())) {
    throw_not_floating("cross_entropy", logits.dtype());
  }
  if (labels.dtype() != DType::i64) {
    throw DTypeError(fmt::format("cross_entropy: labels must be int64, got {} ({})",
                                 dtype_name(labels.dtype()), both()));
  }
  if (logits.ndim() != 2 || labels.ndim() != 1 || labels.dim(0) != logits.dim(0)) {
    throw ShapeError(
        fmt::format("cross_entropy: expected logits (N, C) and labels (N) ({})", both()));
  }
  if (logits.dim(0) == 0) {
    throw ValueError(fmt::format("cross_entropy: the batch is empty ({})", both()));
  }
  const Tensor lc = labels.contiguous();
  const auto t = lc.data<std::int64_t>();
  const std::int64_t C = logits.dim(1);
  for (std::size_t n = 0; n < t.size(); ++n) {
    if (t[n] < 0 || t[n] >= C) {
      throw ValueError(
          fmt::format("cross_entropy: label {} at position {} is out of range [0, {}) ({})", t[n],
                      n, C, both()));
    }
  }
}

struct LogSoftmaxNode final : Node {
  Tensor y;
  int dim = 0;
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {log_softmax_backward(dy, y, dim)};
  }
  std::string_view name() const override { return "log_softmax"; }
  void release() override { y = Tensor(); }
};

struct CrossEntropyNode final : Node {
  Tensor prob;    // (N, C)
  Tensor labels;  // (N) int64
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {cross_entropy_backward(dy, prob, labels)};
  }
  std::string_view name() const override { return "cross_entropy"; }
  void release() override { prob = labels = Tensor(); }
};

}  // namespace

// ---- Tensor level ----

Tensor log_softmax_forward(const Tensor& x, int dim) {
  const int d = normalize_axis("log_softmax", dim, x.shape());
  const SoftmaxLayout L = softmax_layout(x.shape(), d);
  const Tensor xc = x.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  visit_float(x.dtype(), "log_softmax", [&]<class T>() {
    log_softmax_forward(xc.data<T>().data(), L.outer, L.D, L.inner, y.data<T>().data());
  });
  return y;
}

Tensor log_softmax_backward(const Tensor& dy, const Tensor& y, int dim) {
  check_same_shape("log_softmax_backward", dy, y);
  check_same_dtype("log_softmax_backward", dy, y);
  const int d = normalize_axis("log_softmax_backward", dim, y.shape());
  const SoftmaxLayout L = softmax_layout(y.shape(), d);
  const Tensor dyc = dy.contiguous();
  const Tensor yc = y.contiguous();
  Tensor dx = Tensor::empty(y.shape(), y.dtype());
  visit_float(y.dtype(), "log_softmax_backward", [&]<class T>() {
    log_softmax_backward(dyc.data<T>().data(), yc.data<T>().data(), L.outer, L.D, L.inner,
                         dx.data<T>().data());
  });
  return dx;
}

CrossEntropyResult cross_entropy_forward(const Tensor& logits, const Tensor& labels) {
  check_cross_entropy(logits, labels);
  const Tensor xc = logits.contiguous();
  const Tensor tc = labels.contiguous();
  Tensor prob = Tensor::empty(logits.shape(), logits.dtype());
  double loss = 0.0;
  visit_float(logits.dtype(), "cross_entropy", [&]<class T>() {
    loss = cross_entropy_forward(xc.data<T>().data(), tc.data<std::int64_t>().data(), logits.dim(0),
                                 logits.dim(1), prob.data<T>().data());
  });
  return {Tensor::scalar(loss, logits.dtype()), std::move(prob)};
}

Tensor cross_entropy_backward(const Tensor& dloss, const Tensor& prob, const Tensor& labels) {
  check_cross_entropy(prob, labels);
  if (dloss.numel() != 1) {
    throw ShapeError(
        fmt::format("cross_entropy_backward: dloss must have one element (dloss: {}, "
                    "prob: {})",
                    to_string(dloss.shape()), to_string(prob.shape())));
  }
  const Tensor pc = prob.contiguous();
  const Tensor tc = labels.contiguous();
  Tensor dx = Tensor::empty(prob.shape(), prob.dtype());
  visit_float(prob.dtype(), "cross_entropy_backward", [&]<class T>() {
    cross_entropy_backward(static_cast<T>(dloss.item()), pc.data<T>().data(),
                           tc.data<std::int64_t>().data(), prob.dim(0), prob.dim(1),
                           dx.data<T>().data());
  });
  return dx;
}

// ---- Variable level ----

Variable log_softmax(const Variable& a, int dim) {
  Tensor y = log_softmax_forward(a.data(), dim);
  std::shared_ptr<LogSoftmaxNode> node;
  if (any_requires_grad({a})) {
    node = std::make_shared<LogSoftmaxNode>();
    node->y = y;
    node->dim = dim;
  }
  return make_output(std::move(y), std::move(node), {a});
}

Variable cross_entropy(const Variable& logits, const Tensor& labels) {
  CrossEntropyResult r = cross_entropy_forward(logits.data(), labels);
  std::shared_ptr<CrossEntropyNode> node;
  if (any_requires_grad({logits})) {
    node = std::make_shared<CrossEntropyNode>();
    node->prob = std::move(r.prob);
    node->labels = labels.clone();  // the caller may reuse its label buffer
  }
  return make_output(std::move(r.loss), std::move(node), {logits});
}

}  // namespace normlab
