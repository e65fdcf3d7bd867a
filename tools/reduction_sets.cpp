// tools/reduction_sets.cpp: S_i per layer from the layers' own layout functions; statistics from
// the formulas (two passes in double, eq. D0).
#include "tools/reduction_sets.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/shape.h"
#include "layers/norm/group_norm.h"
#include "layers/norm/layer_norm.h"

namespace normlab {

namespace {

// γ or β of every element of x through its affine index; `fill` when the layer has no such
// parameter.
std::vector<double> per_element(Module& module, const std::string& name,
                                const std::vector<std::int64_t>& index, double fill) {
  std::vector<double> out(index.size(), fill);
  for (const auto& [key, p] : module.named_parameters()) {
    if (key != name || !p->defined()) {
      continue;
    }
    const Tensor v = p->data().to(DType::f64).contiguous();
    const auto values = v.data<double>();
    for (std::size_t k = 0; k < index.size(); ++k) {
      out[k] = values[static_cast<std::size_t>(index[k])];
    }
  }
  return out;
}

}  // namespace

std::vector<std::int64_t> ReductionSets::members(std::int64_t s) const {
  std::vector<std::int64_t> out;
  for (std::int64_t a = 0; a < layout.outer; ++a) {
    for (std::int64_t d = 0; d < layout.inner; ++d) {
      out.push_back((a * layout.sets + s) * layout.inner + d);
    }
  }
  return out;
}

std::optional<ReductionSets> reduction_sets(const std::string& layer, const LayerOptions& options,
                                            Module& module, const Tensor& x) {
  const Shape& s = x.shape();
  OptionReader reader(layer, options);  // the layer was built from these, so they are valid
  ReductionSets r;
  bool per_channel = true;
  if (layer == "batch_norm" || layer == "batch_renorm") {
    r.layout = channel_layout(s);
    r.rule = "S_i = {k : k_C = i_C}";
    r.source = layer == "batch_norm" ? "BatchNorm, GN paper eq. 3" : "Batch Renorm, as BatchNorm";
  } else if (layer == "instance_norm") {
    r.layout = {.outer = 1, .sets = s[0] * s[1], .inner = numel_from(s, 2)};
    r.rule = "S_i = {k : k_N = i_N, k_C = i_C}";
    r.source = "InstanceNorm, GN paper eq. 5";
  } else if (layer == "group_norm") {
    r.layout = group_norm_layout(s, reader.required_int("num_groups"));
    r.rule = "S_i = {k : k_N = i_N, floor(k_C/(C/G)) = floor(i_C/(C/G))}";
    r.source = "GroupNorm, GN paper eq. 7";
  } else if (layer == "layer_norm" || layer == "rms_norm") {
    r.layout = layer_norm_layout(layer, s, reader.required_shape("normalized_shape"));
    r.rule = "S_i = {k : k_N = i_N}";
    r.source = layer == "layer_norm" ? "LayerNorm, GN paper eq. 4" : "RMSNorm, LayerNorm's sets";
    r.subtracts_mean = layer == "layer_norm";
    per_channel = false;
  } else {
    return std::nullopt;
  }
  r.eps = layer == "rms_norm" ? reader.get_optional_double("eps", std::nullopt)
                                    .value_or(std::numeric_limits<double>::epsilon())
                              : reader.get_double("eps", 1e-5);
  const Tensor xd = x.to(DType::f64).contiguous();
  const auto v = xd.data<double>();
  const std::int64_t S = r.count();
  r.mean.assign(static_cast<std::size_t>(S), 0.0);
  r.var.assign(static_cast<std::size_t>(S), 0.0);
  r.rstd.assign(static_cast<std::size_t>(S), 0.0);
  r.xhat.assign(v.size(), 0.0);
  for (std::int64_t set = 0; set < S; ++set) {
    const auto idx = r.members(set);
    const auto m = static_cast<double>(idx.size());
    double mu = 0;
    if (r.subtracts_mean) {
      for (const std::int64_t k : idx) {
        mu += v[static_cast<std::size_t>(k)];
      }
      mu /= m;
    }
    double var = 0;
    for (const std::int64_t k : idx) {
      const double c = v[static_cast<std::size_t>(k)] - mu;
      var += c * c;
    }
    var /= m;
    const auto i = static_cast<std::size_t>(set);
    r.mean[i] = mu;
    r.var[i] = var;
    r.rstd[i] = 1.0 / std::sqrt(var + r.eps);
    for (const std::int64_t k : idx) {
      r.xhat[static_cast<std::size_t>(k)] = (v[static_cast<std::size_t>(k)] - mu) * r.rstd[i];
    }
  }
  const std::int64_t HW = per_channel ? numel_from(s, 2) : 1;
  const std::int64_t len = per_channel ? s[1] : r.layout.inner;
  for (std::int64_t k = 0; k < numel_from(s, 0); ++k) {
    r.affine_index.push_back((k / HW) % len);
  }
  r.gamma = per_element(module, "weight", r.affine_index, 1.0);
  r.beta = per_element(module, "bias", r.affine_index, 0.0);
  r.row_scale = r.gamma;
  if (layer == "batch_renorm" && module.is_training()) {  // x̂ = z·r + d: rows carry r_c (BRN3)
    const double r_max = reader.get_double("r_max", 3.0);
    std::vector<double> sigma_run;
    for (const auto& [key, b] : module.named_buffers()) {
      if (key == "running_std") {
        const Tensor t = b->to(DType::f64).contiguous();
        sigma_run.assign(t.data<double>().begin(), t.data<double>().end());
      }
    }
    for (std::size_t k = 0; k < r.row_scale.size(); ++k) {
      const auto c = static_cast<std::size_t>(r.set_of(static_cast<std::int64_t>(k)));
      const double sigma_b = std::sqrt(r.var[c] + r.eps);
      r.row_scale[k] *= std::clamp(sigma_b / sigma_run[c], 1.0 / r_max, r_max);
    }
  }
  const bool has_weight = [&] {
    for (const auto& [key, p] : module.named_parameters()) {
      if (key == "weight" && p->defined()) {
        return true;
      }
    }
    return false;
  }();
  r.affine = !has_weight ? "none" : per_channel ? "per channel gamma_c, beta_c" : "elementwise";
  return r;
}

}  // namespace normlab
