// layers/norm/norm_core.cpp: statistics, normalize and its backward over a SetLayout.
// docs/normalization/derivation.md holds eq. D0–D5 that the comments cite.
#include "layers/norm/norm_core.h"

#include <fmt/format.h>

#include <cmath>

#include "core/error.h"
#include "core/threads.h"

namespace normlab {

SetLayout channel_layout(const Shape& shape) {
  return {.outer = shape[0], .sets = shape[1], .inner = numel_from(shape, 2)};
}

template <class T>
void set_mean_var(const T* x, SetLayout L, double* mean, double* var) {
  const std::int64_t n_rows = L.outer, d_max = L.inner;
#pragma omp parallel for if (L.sets > 1 && L.sets * L.m() >= kParallelGrain)
  for (std::int64_t s = 0; s < L.sets; ++s) {
    double mu = 0.0, M2 = 0.0;  // running mean and Σ(x − μ)² of the rows merged so far
    std::int64_t n = 0;
    for (std::int64_t a = 0; a < n_rows; ++a) {
      const T* row = x + (a * L.sets + s) * L.inner;
      // step 1: the row's own mean and M2, two passes over `inner` values in cache
      double row_sum = 0.0;
      for (std::int64_t d = 0; d < d_max; ++d) {
        row_sum += static_cast<double>(row[d]);
      }
      const double row_mu = row_sum / static_cast<double>(d_max);
      double row_m2 = 0.0;
      for (std::int64_t d = 0; d < d_max; ++d) {
        const double diff = static_cast<double>(row[d]) - row_mu;
        row_m2 += diff * diff;
      }
      // step 2: merge (Chan, Golub & LeVeque 1979): δ = μ_row − μ, M2 += M2_row + δ²·n·n_row/n'
      const std::int64_t n_new = n + d_max;
      const double delta = row_mu - mu;
      const double w = static_cast<double>(d_max) / static_cast<double>(n_new);
      mu += delta * w;
      M2 += row_m2 + delta * delta * static_cast<double>(n) * w;
      n = n_new;
    }
    mean[s] = mu;
    var[s] = M2 / static_cast<double>(n);
  }
}

template <class T>
void set_normalize_forward(const T* x, const double* mean, const double* rstd, SetLayout L,
                           T* xhat) {
#pragma omp parallel for collapse(2) if (L.outer * L.sets > 1 && L.sets * L.m() >= kParallelGrain)
  for (std::int64_t a = 0; a < L.outer; ++a) {
    for (std::int64_t s = 0; s < L.sets; ++s) {
      const std::int64_t base = (a * L.sets + s) * L.inner;
      for (std::int64_t d = 0; d < L.inner; ++d) {
        xhat[base + d] = static_cast<T>((static_cast<double>(x[base + d]) - mean[s]) * rstd[s]);
      }
    }
  }
}

template <class T>
void set_normalize_backward(const T* g, const T* xhat, const double* rstd, SetLayout L, T* dx) {
  const double m = static_cast<double>(L.m());
#pragma omp parallel for if (L.sets > 1 && L.sets * L.m() >= kParallelGrain)
  for (std::int64_t s = 0; s < L.sets; ++s) {
    // step 1: two reductions over the set, Σ g (through μ, eq. D2) and Σ g·x̂ (through σ², eq. D3)
    double sum_g = 0.0, sum_gx = 0.0;
    for (std::int64_t a = 0; a < L.outer; ++a) {
      const std::int64_t base = (a * L.sets + s) * L.inner;
      for (std::int64_t d = 0; d < L.inner; ++d) {
        sum_g += static_cast<double>(g[base + d]);
        sum_gx += static_cast<double>(g[base + d]) * static_cast<double>(xhat[base + d]);
      }
    }
    // step 2: eq. D4, dx = rstd/m · (m·g − Σg − x̂·Σg·x̂)
    const double k = rstd[s] / m;
    for (std::int64_t a = 0; a < L.outer; ++a) {
      const std::int64_t base = (a * L.sets + s) * L.inner;
      for (std::int64_t d = 0; d < L.inner; ++d) {
        const double term1 = m * static_cast<double>(g[base + d]);
        const double term3 = static_cast<double>(xhat[base + d]) * sum_gx;
        dx[base + d] = static_cast<T>(k * (term1 - sum_g - term3));
      }
    }
  }
}

template <class T>
void set_sums(const T* a, const T* b, SetLayout L, double* sum_a, double* sum_ab) {
#pragma omp parallel for if (L.sets > 1 && L.sets * L.m() >= kParallelGrain)
  for (std::int64_t s = 0; s < L.sets; ++s) {
    double sa = 0.0, sab = 0.0;
    for (std::int64_t o = 0; o < L.outer; ++o) {
      const std::int64_t base = (o * L.sets + s) * L.inner;
      for (std::int64_t d = 0; d < L.inner; ++d) {
        sa += static_cast<double>(a[base + d]);
        if (b != nullptr) {
          sab += static_cast<double>(a[base + d]) * static_cast<double>(b[base + d]);
        }
      }
    }
    sum_a[s] = sa;
    if (sum_ab != nullptr) {
      sum_ab[s] = sab;
    }
  }
}

template <class T>
void set_affine_forward(const T* xhat, const T* gamma, const T* beta, SetLayout L, T* y) {
#pragma omp parallel for collapse(2) if (L.outer * L.sets > 1 && L.sets * L.m() >= kParallelGrain)
  for (std::int64_t a = 0; a < L.outer; ++a) {
    for (std::int64_t s = 0; s < L.sets; ++s) {
      const T gs = gamma != nullptr ? gamma[s] : T{1};
      const T bs = beta != nullptr ? beta[s] : T{0};
      const std::int64_t base = (a * L.sets + s) * L.inner;
      for (std::int64_t d = 0; d < L.inner; ++d) {
        y[base + d] = gs * xhat[base + d] + bs;  // GN paper eq. 6
      }
    }
  }
}

template <class T>
void set_scale(const T* dy, const T* gamma, SetLayout L, T* g) {
#pragma omp parallel for collapse(2) if (L.outer * L.sets > 1 && L.sets * L.m() >= kParallelGrain)
  for (std::int64_t a = 0; a < L.outer; ++a) {
    for (std::int64_t s = 0; s < L.sets; ++s) {
      const T gs = gamma != nullptr ? gamma[s] : T{1};
      const std::int64_t base = (a * L.sets + s) * L.inner;
      for (std::int64_t d = 0; d < L.inner; ++d) {
        g[base + d] = gs * dy[base + d];
      }
    }
  }
}

template void set_mean_var<float>(const float*, SetLayout, double*, double*);
template void set_normalize_forward<float>(const float*, const double*, const double*, SetLayout,
                                           float*);
template void set_normalize_backward<float>(const float*, const float*, const double*, SetLayout,
                                            float*);
template void set_sums<float>(const float*, const float*, SetLayout, double*, double*);
template void set_affine_forward<float>(const float*, const float*, const float*, SetLayout,
                                        float*);
template void set_scale<float>(const float*, const float*, SetLayout, float*);
template void set_mean_var<double>(const double*, SetLayout, double*, double*);
template void set_normalize_forward<double>(const double*, const double*, const double*, SetLayout,
                                            double*);
template void set_normalize_backward<double>(const double*, const double*, const double*, SetLayout,
                                             double*);
template void set_sums<double>(const double*, const double*, SetLayout, double*, double*);
template void set_affine_forward<double>(const double*, const double*, const double*, SetLayout,
                                         double*);
template void set_scale<double>(const double*, const double*, SetLayout, double*);

std::vector<double> rstd_from_var(const std::vector<double>& var, double eps) {
  std::vector<double> rstd(var.size());
  for (std::size_t s = 0; s < var.size(); ++s) {
    rstd[s] = 1.0 / std::sqrt(var[s] + eps);
  }
  return rstd;
}

void check_eps(std::string_view op, double eps) {
  if (!(eps > 0.0) || !std::isfinite(eps)) {
    throw ValueError(fmt::format("{}: eps must be positive and finite (eps: {})", op, eps));
  }
}

void check_rank(std::string_view op, const Tensor& x, RankRange ranks) {
  check_defined(op, x);
  if (!is_floating(x.dtype())) {
    throw_not_floating(op, x.dtype());
  }
  if (x.ndim() < ranks.min || x.ndim() > ranks.max) {
    throw ShapeError(
        fmt::format("{}: expected a {}-D to {}-D input (N, C, ...) but got {}-D (x: {})", op,
                    ranks.min, ranks.max, x.ndim(), to_string(x.shape())));
  }
}

void check_channels(std::string_view op, const Tensor& x, RankRange ranks, std::int64_t channels) {
  check_rank(op, x, ranks);
  if (x.shape()[1] != channels) {
    throw ShapeError(fmt::format("{}: input has {} channels but the layer expects {} (x: {})", op,
                                 x.shape()[1], channels, to_string(x.shape())));
  }
}

Tensor affine_tensor(std::string_view op, const Variable& p, const Tensor& x, std::int64_t numel,
                     std::string_view name) {
  if (!p.defined()) {
    return {};
  }
  if (p.dtype() != x.dtype()) {
    throw DTypeError(fmt::format("{}: {} is {} but the input is {} ({}, x: {})", op, name,
                                 dtype_name(p.dtype()), dtype_name(x.dtype()),
                                 describe(name, p.data()), to_string(x.shape())));
  }
  if (p.numel() != numel) {
    throw ShapeError(fmt::format("{}: {} has {} elements but the input needs {} ({}, x: {})", op,
                                 name, p.numel(), numel, describe(name, p.data()),
                                 to_string(x.shape())));
  }
  return p.data().contiguous();
}

Variable frozen(const Variable& p) {
  return p.defined() ? p.detach() : Variable();
}

void check_groups_divide(std::string_view op, std::int64_t channels, std::int64_t groups) {
  if (channels <= 0 || groups <= 0 || channels % groups != 0) {
    throw ShapeError(
        fmt::format("{}: {} channels are not divisible into {} groups (channels: {}, groups: {})",
                    op, channels, groups, channels, groups));
  }
}

const Shape& checked_normalized_shape(std::string_view op, const Shape& normalized_shape) {
  if (normalized_shape.empty() || shape_numel(normalized_shape) <= 0) {
    throw ValueError(fmt::format("{}: normalized_shape must be non-empty and positive ({})", op,
                                 to_string(normalized_shape)));
  }
  return normalized_shape;
}

std::string python_shape(const Shape& shape) {
  std::string dims;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    dims += fmt::format("{}{}", i == 0 ? "" : ", ", shape[i]);
  }
  return fmt::format("({}{})", dims, shape.size() == 1 ? "," : "");
}

void init_running_stats(Tensor& running_mean, Tensor& running_var, Tensor* num_batches_tracked,
                        std::int64_t C, DType dtype) {
  running_mean = Tensor::zeros({C}, dtype);
  running_var = Tensor::ones({C}, dtype);
  if (num_batches_tracked != nullptr) {
    *num_batches_tracked = Tensor::zeros({}, DType::i64);
  }
}

void blend_(Tensor& running, const std::vector<double>& value, double factor) {
  for (std::int64_t c = 0; c < running.numel(); ++c) {
    const double old = running.get({c});
    running.set({c}, (1.0 - factor) * old + factor * value[static_cast<std::size_t>(c)]);
  }
}

Tensor to_tensor(const std::vector<double>& values, DType dtype) {
  return Tensor::from_vector({static_cast<std::int64_t>(values.size())}, values, dtype);
}

std::vector<double> to_doubles(const Tensor& t) {
  const Tensor d = t.to(DType::f64).contiguous();
  const auto v = d.data<double>();
  return {v.begin(), v.end()};
}

NormalizedInput normalize_reference(const Tensor& x, SetLayout sets, double eps) {
  const Tensor xc = x.contiguous();
  std::vector<double> mean(static_cast<std::size_t>(sets.sets)), var(mean.size());
  NormalizedInput out{Tensor::empty(xc.shape(), xc.dtype()), {}};
  visit_float(xc.dtype(), "normalize_reference", [&]<class T>() {
    set_mean_var(xc.data<T>().data(), sets, mean.data(), var.data());
    out.rstd = rstd_from_var(var, eps);
    set_normalize_forward(xc.data<T>().data(), mean.data(), out.rstd.data(), sets,
                          out.xhat.data<T>().data());
  });
  return out;
}

NormGrads affine_grads_reference(const Tensor& dy, const Tensor& xhat, SetLayout affine) {
  const Tensor dyc = dy.contiguous();
  std::vector<double> dgamma(static_cast<std::size_t>(affine.sets)), dbeta(dgamma.size());
  visit_float(dyc.dtype(), "affine_grads_reference", [&]<class T>() {
    set_sums(dyc.data<T>().data(), xhat.data<T>().data(), affine, dbeta.data(), dgamma.data());
  });
  return {Tensor(), to_tensor(dgamma, dyc.dtype()), to_tensor(dbeta, dyc.dtype())};
}

Tensor scale_reference(const Tensor& dy, const Tensor& gamma, SetLayout affine) {
  const Tensor dyc = dy.contiguous();
  const Tensor gc = gamma.defined() ? gamma.contiguous() : Tensor();
  Tensor g = Tensor::empty(dyc.shape(), dyc.dtype());
  visit_float(dyc.dtype(), "scale_reference", [&]<class T>() {
    set_scale(dyc.data<T>().data(), data_or_null<T>(gc), affine, g.data<T>().data());
  });
  return g;
}

Tensor normalize_backward_reference(const Tensor& g, const NormalizedInput& n, SetLayout sets) {
  Tensor dx = Tensor::empty(g.shape(), g.dtype());
  visit_float(g.dtype(), "normalize_backward_reference", [&]<class T>() {
    set_normalize_backward(g.data<T>().data(), n.xhat.data<T>().data(), n.rstd.data(), sets,
                           dx.data<T>().data());
  });
  return dx;
}

}  // namespace normlab
