// tools/jacobian.cpp: the Jacobian of one layer from its hand-written backward, and what it shows.
#include "tools/jacobian.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "autograd/variable.h"
#include "core/error.h"
#include "core/linalg.h"
#include "core/shape.h"

namespace normlab {

namespace {

Tensor float64_input(const ProbeRequest& request) {
  const Tensor& input = request.input.value;
  if (!input.defined()) {
    throw ValueError("jacobian: no input array given");
  }
  if (!is_floating(input.dtype())) {
    throw DTypeError(fmt::format("jacobian: {} has dtype {}; the input must be float32 or float64",
                                 request.input.file, dtype_name(input.dtype())));
  }
  return input.to(DType::f64).contiguous().clone();
}

// Union-find over the rows and columns of J, for its connected blocks.
struct Blocks {
  std::vector<std::int64_t> parent;
  explicit Blocks(std::int64_t n) : parent(static_cast<std::size_t>(n)) {
    std::iota(parent.begin(), parent.end(), 0);
  }
  std::int64_t find(std::int64_t a) {
    while (parent[static_cast<std::size_t>(a)] != a) {
      auto& p = parent[static_cast<std::size_t>(a)];
      p = parent[static_cast<std::size_t>(p)];
      a = p;
    }
    return a;
  }
  void join(std::int64_t a, std::int64_t b) { parent[static_cast<std::size_t>(find(a))] = find(b); }
};

double relative(double value, double scale) {
  return scale > 0 ? value / scale : value;
}

}  // namespace

double Jacobian::max_abs() const {
  double m = 0;
  for (const double v : J) {
    m = std::max(m, std::abs(v));
  }
  return m;
}

Jacobian compute_jacobian(const ProbeRequest& request) {
  Jacobian jac;
  jac.x = float64_input(request);
  const std::unique_ptr<Module> layer = make_probe_layer(request, DType::f64);
  Variable x(jac.x.clone(), /*requires_grad=*/true);
  const Variable y = layer->forward(x);
  jac.y_shape = y.shape();
  jac.rows = y.numel();
  jac.cols = x.numel();
  jac.J.assign(static_cast<std::size_t>(jac.rows * jac.cols), 0.0);
  if (!y.requires_grad()) {
    return jac;  // the output does not depend on x (no graph was recorded)
  }
  for (std::int64_t o = 0; o < jac.rows; ++o) {
    Tensor e = Tensor::zeros(jac.y_shape, DType::f64);
    e.data<double>()[static_cast<std::size_t>(o)] = 1.0;
    y.backward(e, /*retain_graph=*/true);
    if (x.grad().defined()) {
      const Tensor g = x.grad().contiguous();
      std::copy_n(g.data<double>().data(), jac.cols, jac.J.data() + o * jac.cols);
    }
    x.zero_grad();
  }
  return jac;
}

std::vector<double> numeric_jacobian(const ProbeRequest& request, double step) {
  const Tensor x0 = float64_input(request);
  const std::unique_ptr<Module> layer = make_probe_layer(request, DType::f64);
  std::vector<std::pair<Tensor*, Tensor>> saved;
  for (const auto& [name, b] : layer->named_buffers()) {
    saved.emplace_back(b, b->clone());
  }
  auto f = [&](const Tensor& x) {
    for (auto& [b, value] : saved) {
      *b = value.clone();
    }
    return layer->forward_no_grad(x).contiguous();
  };
  const std::int64_t cols = x0.numel();
  const std::int64_t rows = f(x0).numel();
  std::vector<double> J(static_cast<std::size_t>(rows * cols));
  for (std::int64_t i = 0; i < cols; ++i) {
    Tensor xp = x0.clone();
    Tensor xm = x0.clone();
    xp.data<double>()[static_cast<std::size_t>(i)] += step;
    xm.data<double>()[static_cast<std::size_t>(i)] -= step;
    const Tensor yp = f(xp);
    const Tensor ym = f(xm);
    const auto p = yp.data<double>();
    const auto m = ym.data<double>();
    for (std::int64_t o = 0; o < rows; ++o) {
      J[static_cast<std::size_t>(o * cols + i)] =
          (p[static_cast<std::size_t>(o)] - m[static_cast<std::size_t>(o)]) / (2 * step);
    }
  }
  return J;
}

std::int64_t Spectrum::rank(double relative_tol) const {
  if (singular_values.empty()) {
    return 0;
  }
  const double cut = relative_tol * singular_values.front();
  return std::count_if(singular_values.begin(), singular_values.end(),
                       [cut](double s) { return s > cut; });
}

Spectrum jacobian_spectrum(const Jacobian& jac) {
  const std::int64_t R = jac.rows, C = jac.cols;
  const bool square = R == C;
  Blocks blocks(R + C);
  for (std::int64_t o = 0; o < R; ++o) {
    for (std::int64_t i = 0; i < C; ++i) {
      if (jac.at(o, i) != 0.0) {
        blocks.join(o, R + i);
      }
    }
    if (square) {
      blocks.join(o, R + o);
    }
  }
  std::vector<std::vector<std::int64_t>> rows_of(static_cast<std::size_t>(R + C));
  std::vector<std::vector<std::int64_t>> cols_of(static_cast<std::size_t>(R + C));
  for (std::int64_t o = 0; o < R; ++o) {
    rows_of[static_cast<std::size_t>(blocks.find(o))].push_back(o);
  }
  for (std::int64_t i = 0; i < C; ++i) {
    cols_of[static_cast<std::size_t>(blocks.find(R + i))].push_back(i);
  }
  Spectrum sp;
  for (std::size_t b = 0; b < rows_of.size(); ++b) {
    const auto& rs = rows_of[b];
    const auto& cs = cols_of[b];
    if (rs.empty() && cs.empty()) {
      continue;
    }
    ++sp.blocks;
    sp.largest_block =
        std::max<std::int64_t>(sp.largest_block, static_cast<std::int64_t>(rs.size() + cs.size()));
    if (rs.empty() || cs.empty()) {
      continue;
    }
    std::vector<double> sub;
    sub.reserve(rs.size() * cs.size());
    for (const std::int64_t o : rs) {
      for (const std::int64_t i : cs) {
        sub.push_back(jac.at(o, i));
      }
    }
    const auto r = static_cast<std::int64_t>(rs.size());
    const auto c = static_cast<std::int64_t>(cs.size());
    const auto s = singular_values(sub.data(), r, c);
    sp.singular_values.insert(sp.singular_values.end(), s.begin(), s.end());
    if (square) {
      const auto e = eigenvalues(sub.data(), r);
      sp.eigenvalues.insert(sp.eigenvalues.end(), e.begin(), e.end());
    }
  }
  sp.singular_values.resize(static_cast<std::size_t>(std::min(R, C)), 0.0);
  std::sort(sp.singular_values.begin(), sp.singular_values.end(), std::greater<>());
  std::sort(sp.eigenvalues.begin(), sp.eigenvalues.end(), [](const auto& a, const auto& b) {
    return a.real() != b.real() ? a.real() > b.real() : a.imag() > b.imag();
  });
  return sp;
}

SetChecks check_sets(const Jacobian& jac, const ReductionSets& sets) {
  if (jac.rows != jac.cols || jac.cols != static_cast<std::int64_t>(sets.xhat.size())) {
    throw ShapeError(fmt::format("jacobian: the sets cover {} elements but J is {}x{}",
                                 sets.xhat.size(), jac.rows, jac.cols));
  }
  const double scale = jac.max_abs();
  SetChecks c;
  double max_xhat = 0;
  for (const double v : sets.xhat) {
    max_xhat = std::max(max_xhat, std::abs(v));
  }
  for (std::int64_t s = 0; s < sets.count(); ++s) {
    const auto idx = sets.members(s);
    const auto si = static_cast<std::size_t>(s);
    const double eps_factor = sets.eps / (sets.var[si] + sets.eps);
    double max_p = 0, asym = 0;
    for (const std::int64_t k : idx) {
      const auto ki = static_cast<std::size_t>(k);
      double j1 = 0, jx = 0;
      for (const std::int64_t i : idx) {
        j1 += jac.at(k, i);
        jx += jac.at(k, i) * sets.xhat[static_cast<std::size_t>(i)];
        const double gk = sets.row_scale[ki], gi = sets.row_scale[static_cast<std::size_t>(i)];
        if (gk != 0.0 && gi != 0.0) {
          max_p = std::max(max_p, std::abs(jac.at(k, i) / gk));
          asym = std::max(asym, std::abs(jac.at(k, i) / gk - jac.at(i, k) / gi));
        }
      }
      const double predicted = sets.row_scale[ki] * sets.rstd[si] * eps_factor * sets.xhat[ki];
      c.ones = std::max(c.ones, relative(std::abs(j1), scale));
      c.xhat = std::max(c.xhat, relative(std::abs(jx), scale * max_xhat));
      c.xhat_residual =
          std::max(c.xhat_residual, relative(std::abs(jx - predicted), scale * max_xhat));
    }
    c.asymmetry = std::max(c.asymmetry, relative(asym, max_p));
  }
  for (std::int64_t k = 0; k < jac.rows; ++k) {
    for (std::int64_t i = 0; i < jac.cols; ++i) {
      if (sets.set_of(k) != sets.set_of(i)) {
        c.outside = std::max(c.outside, relative(std::abs(jac.at(k, i)), scale));
      }
    }
  }
  return c;
}

Coupling jacobian_coupling(const Jacobian& jac) {
  const Shape& xs = jac.x.shape();
  const std::int64_t N = xs.empty() ? 1 : xs[0];
  const std::int64_t C = xs.size() < 2 ? 1 : xs[1];
  const std::int64_t P = xs.size() < 3 ? 1 : numel_from(xs, 2);
  const std::int64_t out_batch = jac.y_shape.empty() ? 1 : jac.y_shape[0];
  Coupling c;
  std::vector<std::int64_t> seen_n(static_cast<std::size_t>(N), -1);
  std::vector<std::int64_t> seen_c(static_cast<std::size_t>(C), -1);
  std::vector<std::int64_t> seen_p(static_cast<std::size_t>(P), -1);
  for (std::int64_t o = 0; o < jac.rows; ++o) {
    std::int64_t n = 0, ch = 0, p = 0;
    const std::int64_t sample_o = o / std::max<std::int64_t>(1, jac.rows / out_batch);
    for (std::int64_t i = 0; i < jac.cols; ++i) {
      if (jac.at(o, i) == 0.0) {
        continue;
      }
      const std::int64_t in = i / (C * P), ic = (i / P) % C, ip = i % P;
      n += seen_n[static_cast<std::size_t>(in)] != o;
      ch += seen_c[static_cast<std::size_t>(ic)] != o;
      p += seen_p[static_cast<std::size_t>(ip)] != o;
      seen_n[static_cast<std::size_t>(in)] = o;
      seen_c[static_cast<std::size_t>(ic)] = o;
      seen_p[static_cast<std::size_t>(ip)] = o;
      c.across_samples = c.across_samples || (out_batch == N && in != sample_o);
    }
    c.samples = std::max(c.samples, n);
    c.channels = std::max(c.channels, ch);
    c.positions = std::max(c.positions, p);
  }
  return c;
}

std::string spectrum_csv(const Spectrum& spectrum) {
  std::string out = "index,singular_value,eigenvalue_real,eigenvalue_imag\n";
  const std::size_t n = std::max(spectrum.singular_values.size(), spectrum.eigenvalues.size());
  for (std::size_t i = 0; i < n; ++i) {
    out += fmt::format("{},", i);
    out += i < spectrum.singular_values.size() ? fmt::format("{:.17g}", spectrum.singular_values[i])
                                               : std::string();
    out += i < spectrum.eigenvalues.size()
               ? fmt::format(",{:.17g},{:.17g}\n", spectrum.eigenvalues[i].real(),
                             spectrum.eigenvalues[i].imag())
               : std::string(",,\n");
  }
  return out;
}

}  // namespace normlab
