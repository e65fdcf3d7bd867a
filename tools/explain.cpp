// tools/explain.cpp: the worked example of one normalization layer, in Markdown.
#include "tools/explain.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string_view>

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

// The buffer `name` of the layer, or null when it has none (or it is undefined).
const Tensor* buffer(Module& layer, std::string_view name) {
  for (const auto& [key, b] : layer.named_buffers()) {
    if (key == name && b->defined()) {
      return b;
    }
  }
  return nullptr;
}

// Eval mode with BatchNorm's running statistics (one per set): μ, σ² are the buffers, constants
// of the backward (BN9); rstd and x̂ follow from them.
void use_running_stats(Module& layer, ReductionSets& sets, const std::vector<double>& x) {
  sets.mean = doubles(*buffer(layer, "running_mean"));
  sets.var = doubles(*buffer(layer, "running_var"));
  for (std::size_t s = 0; s < sets.var.size(); ++s) {
    sets.rstd[s] = 1.0 / std::sqrt(sets.var[s] + sets.eps);
  }
  for (std::size_t k = 0; k < x.size(); ++k) {
    const auto s = static_cast<std::size_t>(sets.set_of(static_cast<std::int64_t>(k)));
    sets.xhat[k] = (x[k] - sets.mean[s]) * sets.rstd[s];
  }
}

// Every intermediate of the formulas, for sets S and upstream gradient dy.
struct Worked {
  bool eval_stats = false;  // eval mode with running statistics: dx = rstd·g (BN10)
  std::vector<double> x, dy, y, g, dx;
  std::vector<double> dgamma, dbeta;  // by affine index
  std::vector<double> sum_g, sum_gx;  // by set
};

Worked work(const ReductionSets& S, std::vector<double> x, std::vector<double> dy,
            bool eval_stats) {
  Worked w;
  w.eval_stats = eval_stats;
  const std::size_t n = x.size();
  const std::int64_t A = *std::max_element(S.affine_index.begin(), S.affine_index.end()) + 1;
  w.y.resize(n), w.g.resize(n), w.dx.resize(n);
  w.dgamma.resize(static_cast<std::size_t>(A)), w.dbeta.resize(static_cast<std::size_t>(A));
  w.sum_g.resize(S.rstd.size()), w.sum_gx.resize(S.rstd.size());
  for (std::size_t k = 0; k < n; ++k) {
    const auto a = static_cast<std::size_t>(S.affine_index[k]);
    const auto s = static_cast<std::size_t>(S.set_of(static_cast<std::int64_t>(k)));
    w.y[k] = S.gamma[k] * S.xhat[k] + S.beta[k];  // D5
    w.dbeta[a] += dy[k];                          // D5
    w.dgamma[a] += dy[k] * S.xhat[k];             // D5
    w.g[k] = S.gamma[k] * dy[k];                  // D5
    w.sum_g[s] += w.g[k];                         // D4, step 1
    w.sum_gx[s] += w.g[k] * S.xhat[k];
  }
  const auto m = static_cast<double>(S.layout.m());
  for (std::size_t k = 0; k < n; ++k) {
    const auto s = static_cast<std::size_t>(S.set_of(static_cast<std::int64_t>(k)));
    const double mean_term = S.subtracts_mean ? w.sum_g[s] : 0.0;  // RMSNorm has no D2
    w.dx[k] = eval_stats
                  ? S.rstd[s] * w.g[k]                                                   // BN10
                  : S.rstd[s] / m * (m * w.g[k] - mean_term - S.xhat[k] * w.sum_gx[s]);  // D4
  }
  w.x = std::move(x);
  w.dy = std::move(dy);
  return w;
}

// "y …, dx …, dγ …, dβ …": the largest difference of the formulas from the layer's own arrays.
std::string agreement(const Worked& w, const std::vector<std::pair<std::string, Tensor>>& arrays) {
  const auto diff = [&](const std::vector<double>& want, const char* name) {
    const Tensor* got = find_array(arrays, name);
    return got != nullptr ? max_diff(want, doubles(*got)) : 0.0;
  };
  return fmt::format("y {:.1e}, dx {:.1e}, dγ {:.1e}, dβ {:.1e}", diff(w.y, "output"),
                     diff(w.dx, "grad_input"), diff(w.dgamma, "grad_weight"),
                     diff(w.dbeta, "grad_bias"));
}

std::string set_table(const ReductionSets& S, const Worked& w) {
  const bool rms = !S.subtracts_mean;
  std::string out =
      fmt::format("**Forward, per set** ({})\n\n",
                  w.eval_stats ? "BN9: μ = running_mean, σ² = running_var, rstd = 1/sqrt(σ² + eps)"
                  : rms ? "RMS1: no mean (μ = 0), σ² = (1/m)Σx², rstd = 1/sqrt(σ² + eps)"
                        : "D0: μ = (1/m)Σx, σ² = (1/m)Σ(x − μ)², rstd = 1/sqrt(σ² + eps)");
  out +=
      "| set | members (flat index) | μ | σ² | rstd | Σg | Σg·x̂ |\n|---|---|---|---|---|---|---|\n";
  for (std::int64_t s = 0; s < S.count(); ++s) {
    const auto si = static_cast<std::size_t>(s);
    out += fmt::format("| {} | {} | {} | {} | {} | {} | {} |\n", s, fmt::join(S.members(s), " "),
                       num(S.mean[si]), num(S.var[si]), num(S.rstd[si]), num(w.sum_g[si]),
                       num(w.sum_gx[si]));
  }
  return out;
}

std::string element_table(const ReductionSets& S, const Worked& w, const Shape& shape) {
  std::string out = fmt::format(
      "\n**Every element** (x̂ = (x − μ)·rstd, eq. 1; y = γ·x̂ + β, D5; g = γ·dy, D5; {})\n\n",
      w.eval_stats        ? "dx = rstd·g, BN10: the statistics are constants"
      : !S.subtracts_mean ? "dx = rstd/m·(m·g − x̂·Σg·x̂), RMS6: D4 without the mean term D2"
                          : "dx = rstd/m·(m·g − Σg − x̂·Σg·x̂), D4");
  out +=
      "| k | index | set | x | x̂ | γ | β | y | dy | g | dx |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (std::size_t k = 0; k < w.x.size(); ++k) {
    const auto ki = static_cast<std::int64_t>(k);
    out +=
        fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", k,
                    index_of(ki, shape), S.set_of(ki), num(w.x[k]), num(S.xhat[k]), num(S.gamma[k]),
                    num(S.beta[k]), num(w.y[k]), num(w.dy[k]), num(w.g[k]), num(w.dx[k]));
  }
  if (S.affine != "none") {
    out += "\n**Affine gradients** (D5: dβ = Σ dy, dγ = Σ dy·x̂ over the elements of each γ)\n\n";
    out += "| γ index | γ | dγ | dβ |\n|---|---|---|---|\n";
    for (std::size_t a = 0; a < w.dgamma.size(); ++a) {
      const auto k = static_cast<std::size_t>(
          std::find(S.affine_index.begin(), S.affine_index.end(), static_cast<std::int64_t>(a)) -
          S.affine_index.begin());
      out += fmt::format("| {} | {} | {} | {} |\n", a, num(S.gamma[k]), num(w.dgamma[a]),
                         num(w.dbeta[a]));
    }
  }
  return out;
}

std::string invariant_table(const ReductionSets& S, const Worked& w) {
  std::string out = fmt::format(
      "**Invariants per set** (D6: Σdx = 0 where the mean is subtracted; D7: Σdx·x̂ = "
      "rstd·eps/(σ² + eps)·Σg·x̂ exactly, 0 at eps = 0){}\n\n",
      w.eval_stats        ? ". In eval mode the statistics are constants, so neither holds."
      : !S.subtracts_mean ? ". RMSNorm subtracts no mean, so Σdx ≠ 0; D7 holds (RMS7)."
                          : "");
  out += "| set | Σdx | Σdx·x̂ | rstd·eps/(σ²+eps)·Σg·x̂ |\n|---|---|---|---|\n";
  for (std::int64_t s = 0; s < S.count(); ++s) {
    const auto si = static_cast<std::size_t>(s);
    double sdx = 0, sdxx = 0;
    for (const std::int64_t k : S.members(s)) {
      sdx += w.dx[static_cast<std::size_t>(k)];
      sdxx += w.dx[static_cast<std::size_t>(k)] * S.xhat[static_cast<std::size_t>(k)];
    }
    out += fmt::format("| {} | {:.3g} | {:.3g} | {:.3g} |\n", s, sdx, sdxx,
                       S.rstd[si] * S.eps / (S.var[si] + S.eps) * w.sum_gx[si]);
  }
  return out;
}

}  // namespace

std::string explain(const ProbeRequest& request_in, const std::string& command) {
  ProbeRequest request = request_in;
  const Tensor x = request.input.value.to(DType::f64).contiguous();
  request.input.value = x;
  if (x.numel() > kMaxElements) {
    throw ValueError(
        fmt::format("explain: x {} has {} elements; explain prints every one, so give at most {}",
                    to_string(x.shape()), x.numel(), kMaxElements));
  }
  std::unique_ptr<Module> layer = make_probe_layer(request, DType::f64);
  std::optional<ReductionSets> found = reduction_sets(request.layer, request.options, *layer, x);
  if (!found || request.layer == "batch_renorm") {
    throw ValueError(
        fmt::format("explain: {} has no reduction sets to explain (valid: batch_norm, layer_norm, "
                    "instance_norm, group_norm, rms_norm)",
                    request.layer));
  }
  ReductionSets& S = *found;
  const bool eval_stats = !request.train && buffer(*layer, "running_mean") != nullptr &&
                          buffer(*layer, "running_var") != nullptr;
  if (eval_stats && request.layer != "batch_norm") {
    throw ValueError(fmt::format(
        "explain: {} in eval mode with running statistics is not explained (batch_norm is)",
        request.layer));
  }
  if (eval_stats) {
    use_running_stats(*layer, S, doubles(x));
  }
  if (!request.grad_output.value.defined()) {
    Rng rng(request.seed + 1);
    request.grad_output = ProbeArray{"dy ~ N(0, 1)", randn(x.shape(), DType::f64, rng)};
  }
  const Worked w =
      work(S, doubles(x), doubles(request.grad_output.value.to(DType::f64)), eval_stats);
  const auto arrays = run_probe(request);  // the real layer, through the Variable path

  std::string out = fmt::format("```\n$ {}\n```\n\n", command);
  out += fmt::format("{}: {} ({}), x {}, {} sets of m = {}, eps = {}, affine {}{}.\n\n",
                     request.layer, S.rule, S.source, to_string(x.shape()), S.count(), S.layout.m(),
                     num(S.eps), S.affine,
                     eval_stats ? "; eval mode: μ and σ² are the running statistics (BN9)" : "");
  out += set_table(S, w);
  out += element_table(S, w, x.shape());
  out += fmt::format("\n**The hand-written layer agrees** (max |formula − layer|): {}.\n\n",
                     agreement(w, arrays));
  out += invariant_table(S, w);
  return out;
}

}  // namespace normlab
