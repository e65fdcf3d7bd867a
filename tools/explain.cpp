// tools/explain.cpp: the worked example of one normalization layer, in Markdown.
#include "tools/explain.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/random.h"
#include "core/shape.h"
#include "tools/reduction_sets.h"

namespace normlab {

namespace {

constexpr std::int64_t kMaxElements = 256;

std::string num(double v) {
  return fmt::format("{:.6g}", v);
}

const Tensor* find_array(const std::vector<std::pair<std::string, Tensor>>& arrays,
                         const std::string& name) {
  for (const auto& [n, t] : arrays) {
    if (n == name) {
      return &t;
    }
  }
  return nullptr;
}

std::vector<double> doubles(const Tensor& t) {
  const Tensor c = t.to(DType::f64).contiguous();
  const auto v = c.data<double>();
  return {v.begin(), v.end()};
}

double max_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double d = a.size() == b.size() ? 0.0 : INFINITY;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    d = std::max(d, std::abs(a[i] - b[i]));
  }
  return d;
}

// "(n, c, h, w)" of flat index k of shape s.
std::string index_of(std::int64_t k, const Shape& s) {
  std::vector<std::int64_t> idx(s.size());
  for (std::size_t a = s.size(); a-- > 0;) {
    idx[a] = k % s[a];
    k /= s[a];
  }
  return fmt::format("({})", fmt::join(idx, ", "));
}

// Eval mode with running statistics: μ, σ² are the buffers, constants of the backward (BN9).
bool use_running_stats(Module& layer, ReductionSets& sets, const std::vector<double>& x) {
  const Tensor* mean = nullptr;
  const Tensor* var = nullptr;
  for (const auto& [name, b] : layer.named_buffers()) {
    mean = name == "running_mean" ? b : mean;
    var = name == "running_var" ? b : var;
  }
  if (mean == nullptr || var == nullptr || !mean->defined()) {
    return false;
  }
  sets.mean = doubles(*mean);
  sets.var = doubles(*var);
  for (std::size_t s = 0; s < sets.var.size(); ++s) {
    sets.rstd[s] = 1.0 / std::sqrt(sets.var[s] + sets.eps);
  }
  for (std::size_t k = 0; k < x.size(); ++k) {
    const auto s = static_cast<std::size_t>(sets.set_of(static_cast<std::int64_t>(k)));
    sets.xhat[k] = (x[k] - sets.mean[s]) * sets.rstd[s];
  }
  return true;
}

}  // namespace

std::string explain(const ProbeRequest& request_in, const std::string& command) {
  ProbeRequest request = request_in;
  const Tensor x = request.input.value.to(DType::f64).contiguous();
  request.input.value = x;
  if (x.numel() > kMaxElements) {
    throw ValueError(
        fmt::format("explain: x {} has {} elements; explain prints every one, so "
                    "give at most {}",
                    to_string(x.shape()), x.numel(), kMaxElements));
  }
  std::unique_ptr<Module> layer = make_probe_layer(request, DType::f64);
  std::optional<ReductionSets> found = reduction_sets(request.layer, request.options, *layer, x);
  if (!found) {
    throw ValueError(
        fmt::format("explain: {} has no reduction sets to explain (valid: "
                    "batch_norm, layer_norm, instance_norm, group_norm, rms_norm)",
                    request.layer));
  }
  if (request.layer == "batch_renorm") {
    throw ValueError(
        "explain: batch_renorm is not explained (its x̂ = z·r + d, BRN5; see "
        "docs/normalization/batch_renorm.md); batch_norm is");
  }
  ReductionSets& S = *found;
  const std::vector<double> xv = doubles(x);
  const bool eval_stats = !request.train && use_running_stats(*layer, S, xv);
  if (eval_stats && request.layer != "batch_norm") {
    throw ValueError(
        fmt::format("explain: {} in eval mode with running statistics is not "
                    "explained (batch_norm is)",
                    request.layer));
  }
  if (!request.grad_output.value.defined()) {
    Rng rng(request.seed + 1);
    request.grad_output = ProbeArray{"dy ~ N(0, 1)", randn(x.shape(), DType::f64, rng)};
  }
  const std::vector<double> dy = doubles(request.grad_output.value.to(DType::f64));

  // The formulas.
  const auto n = static_cast<std::size_t>(x.numel());
  const std::int64_t A = S.affine_index.empty()
                             ? 0
                             : *std::max_element(S.affine_index.begin(), S.affine_index.end()) + 1;
  std::vector<double> y(n), g(n), dx(n), dbeta(static_cast<std::size_t>(A)),
      dgamma(static_cast<std::size_t>(A)), sum_g(S.rstd.size()), sum_gx(S.rstd.size());
  for (std::size_t k = 0; k < n; ++k) {
    const auto a = static_cast<std::size_t>(S.affine_index[k]);
    y[k] = S.gamma[k] * S.xhat[k] + S.beta[k];  // D5
    dbeta[a] += dy[k];                          // D5
    dgamma[a] += dy[k] * S.xhat[k];             // D5
    g[k] = S.gamma[k] * dy[k];                  // D5
    const auto s = static_cast<std::size_t>(S.set_of(static_cast<std::int64_t>(k)));
    sum_g[s] += g[k];
    sum_gx[s] += g[k] * S.xhat[k];
  }
  const auto m = static_cast<double>(S.layout.m());
  for (std::size_t k = 0; k < n; ++k) {
    const auto s = static_cast<std::size_t>(S.set_of(static_cast<std::int64_t>(k)));
    const double mean_term = S.subtracts_mean ? sum_g[s] : 0.0;
    dx[k] = eval_stats ? S.rstd[s] * g[k]  // BN10: the statistics are constants
                       : S.rstd[s] / m * (m * g[k] - mean_term - S.xhat[k] * sum_gx[s]);  // D4
  }

  // The real layer, forward and backward through the Variable path.
  const auto arrays = run_probe(request);
  const double err_y = max_diff(y, doubles(*find_array(arrays, "output")));
  const double err_dx = max_diff(dx, doubles(*find_array(arrays, "grad_input")));
  const Tensor* gw = find_array(arrays, "grad_weight");
  const Tensor* gb = find_array(arrays, "grad_bias");
  const double err_dgamma = gw != nullptr ? max_diff(dgamma, doubles(*gw)) : 0.0;
  const double err_dbeta = gb != nullptr ? max_diff(dbeta, doubles(*gb)) : 0.0;

  std::string out = fmt::format("```\n$ {}\n```\n\n", command);
  out += fmt::format("{}: {} ({}), x {}, {} sets of m = {}, eps = {}, affine {}{}.\n\n",
                     request.layer, S.rule, S.source, to_string(x.shape()), S.count(), S.layout.m(),
                     num(S.eps), S.affine,
                     eval_stats ? "; eval mode: μ and σ² are the running statistics (BN9)" : "");
  const bool rms = !S.subtracts_mean;
  out += fmt::format("**Forward, per set** ({})\n\n",
                     eval_stats ? "BN9: μ = running_mean, σ² = running_var, rstd = 1/sqrt(σ² + eps)"
                     : rms ? "RMS1: no mean (μ = 0), σ² = (1/m)Σx², rstd = 1/sqrt(σ² + eps)"
                           : "D0: μ = (1/m)Σx, σ² = (1/m)Σ(x − μ)², rstd = 1/sqrt(σ² + eps)");
  out +=
      "| set | members (flat index) | μ | σ² | rstd | Σg | Σg·x̂ |\n|---|---|---|---|---|---|---|\n";
  for (std::int64_t s = 0; s < S.count(); ++s) {
    const auto si = static_cast<std::size_t>(s);
    out += fmt::format("| {} | {} | {} | {} | {} | {} | {} |\n", s, fmt::join(S.members(s), " "),
                       num(S.mean[si]), num(S.var[si]), num(S.rstd[si]), num(sum_g[si]),
                       num(sum_gx[si]));
  }
  out += fmt::format(
      "\n**Every element** (x̂ = (x − μ)·rstd, eq. 1; y = γ·x̂ + β, D5; g = γ·dy, D5; {})\n\n",
      eval_stats ? "dx = rstd·g, BN10: the statistics are constants"
      : rms      ? "dx = rstd/m·(m·g − x̂·Σg·x̂), RMS6: D4 without the mean term D2"
                 : "dx = rstd/m·(m·g − Σg − x̂·Σg·x̂), D4");
  out +=
      "| k | index | set | x | x̂ | γ | β | y | dy | g | dx |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (std::size_t k = 0; k < n; ++k) {
    const auto ki = static_cast<std::int64_t>(k);
    out +=
        fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", k,
                    index_of(ki, x.shape()), S.set_of(ki), num(xv[k]), num(S.xhat[k]),
                    num(S.gamma[k]), num(S.beta[k]), num(y[k]), num(dy[k]), num(g[k]), num(dx[k]));
  }
  if (A > 0 && S.affine != "none") {
    out += "\n**Affine gradients** (D5: dβ = Σ dy, dγ = Σ dy·x̂ over the elements of each γ)\n\n";
    out += "| γ index | γ | dγ | dβ |\n|---|---|---|---|\n";
    for (std::int64_t a = 0; a < A; ++a) {
      const auto ai = static_cast<std::size_t>(a);
      const auto k = static_cast<std::size_t>(
          std::find(S.affine_index.begin(), S.affine_index.end(), a) - S.affine_index.begin());
      out += fmt::format("| {} | {} | {} | {} |\n", a, num(S.gamma[k]), num(dgamma[ai]),
                         num(dbeta[ai]));
    }
  }
  out += "\n**The hand-written layer agrees** (max |formula − layer|): ";
  out += fmt::format("y {:.1e}, dx {:.1e}, dγ {:.1e}, dβ {:.1e}.\n\n", err_y, err_dx, err_dgamma,
                     err_dbeta);
  out += fmt::format(
      "**Invariants per set** (D6: Σdx = 0 where the mean is subtracted; D7: Σdx·x̂ = "
      "rstd·eps/(σ² + eps)·Σg·x̂ exactly, 0 at eps = 0){}\n\n",
      eval_stats ? ". In eval mode the statistics are constants, so neither holds."
      : rms      ? ". RMSNorm subtracts no mean, so Σdx ≠ 0; D7 holds (RMS7)."
                 : "");
  out += "| set | Σdx | Σdx·x̂ | rstd·eps/(σ²+eps)·Σg·x̂ |\n|---|---|---|---|\n";
  for (std::int64_t s = 0; s < S.count(); ++s) {
    const auto si = static_cast<std::size_t>(s);
    double sdx = 0, sdxx = 0;
    for (const std::int64_t k : S.members(s)) {
      sdx += dx[static_cast<std::size_t>(k)];
      sdxx += dx[static_cast<std::size_t>(k)] * S.xhat[static_cast<std::size_t>(k)];
    }
    out += fmt::format("| {} | {:.3g} | {:.3g} | {:.3g} |\n", s, sdx, sdxx,
                       S.rstd[si] * S.eps / (S.var[si] + S.eps) * sum_gx[si]);
  }
  return out;
}

}  // namespace normlab
