#include "core/tensor_math.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <span>
#include <utility>

namespace normlab {

namespace {
// Both operands contiguous in dst's dtype, so every loop below is a plain loop.
Tensor as_dense(const Tensor& t, DType dtype) {
  return t.to(dtype).contiguous();
}

// f(x, y) over the elements of a and b as float64 spans (contiguous copies where needed).
template <class F>
auto visit_f64_pair(const Tensor& a, const Tensor& b, F&& f) {
  const Tensor da = as_dense(a, DType::f64);
  const Tensor db = as_dense(b, DType::f64);
  return std::forward<F>(f)(da.data<double>(), db.data<double>());
}

// |x − y| for comparisons: NaN if either is NaN, 0 for equal infinities (inf − inf would be NaN),
// +inf when only one side is infinite or they have opposite signs.
double abs_diff(double x, double y) {
  if (std::isnan(x) || std::isnan(y)) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  return x == y ? 0.0 : std::abs(x - y);
}
}  // namespace

void add_(Tensor& dst, const Tensor& src, double alpha) {
  check_same_shape("add_", dst, src);
  const Tensor s = as_dense(src, dst.dtype());
  Tensor d = dst.contiguous();
  visit_float(dst.dtype(), "add_", [&]<class T>() {
    T* y = d.data<T>().data();
    const T* x = s.data<T>().data();
    const T a = static_cast<T>(alpha);
    const std::int64_t n = d.numel();
    for (std::int64_t i = 0; i < n; ++i) {
      y[i] += a * x[i];
    }
  });
  if (!d.shares_storage(dst)) {
    dst.copy_(d);
  }
}

void scale_(Tensor& dst, double alpha) {
  Tensor d = dst.contiguous();
  visit_float(dst.dtype(), "scale_", [&]<class T>() {
    for (T& v : d.data<T>()) {
      v *= static_cast<T>(alpha);
    }
  });
  if (!d.shares_storage(dst)) {
    dst.copy_(d);
  }
}

double sum_all(const Tensor& t) {
  const Tensor d = as_dense(t, DType::f64);
  double s = 0.0;
  for (const double v : d.data<double>()) {
    s += v;
  }
  return s;
}

double dot_all(const Tensor& a, const Tensor& b) {
  check_same_shape("dot_all", a, b);
  return visit_f64_pair(a, b, [](std::span<const double> x, std::span<const double> y) {
    double s = 0.0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      s += x[i] * y[i];
    }
    return s;
  });
}

double max_abs(const Tensor& t) {
  const Tensor d = as_dense(t, DType::f64);
  double m = 0.0;
  for (const double v : d.data<double>()) {
    if (std::isnan(v)) {
      return v;
    }
    m = std::max(m, std::abs(v));
  }
  return m;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  check_same_shape("max_abs_diff", a, b);
  return visit_f64_pair(a, b, [](std::span<const double> x, std::span<const double> y) {
    double m = 0.0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double e = abs_diff(x[i], y[i]);
      if (std::isnan(e)) {
        return e;
      }
      m = std::max(m, e);
    }
    return m;
  });
}

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  if (a.shape() != b.shape()) {
    return false;
  }
  return visit_f64_pair(a, b, [&](std::span<const double> x, std::span<const double> y) {
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (!(abs_diff(x[i], y[i]) <= atol + rtol * std::abs(y[i]))) {
        return false;
      }
    }
    return true;
  });
}

}  // namespace normlab
