#include "autograd/gradcheck.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/random.h"
#include "core/tensor_math.h"

namespace normlab {

namespace {

// The scalar objective: L = y when y has one element, else L = Σ w⊙y.
double objective(const Variable& y, const Tensor& w) {
  return y.numel() == 1 && !w.defined() ? y.data().item() : dot_all(y.data(), w);
}

}  // namespace

std::string GradcheckReport::worst() const {
  if (checked == 0) {
    return "gradcheck: no element was checked (no input requires a gradient)";
  }
  if (mismatches.empty()) {
    return fmt::format("all {} elements within tolerance; max |a - n| = {:.3g} (seed {})", checked,
                       max_abs_error, seed);
  }
  const auto it = std::max_element(mismatches.begin(), mismatches.end(), [](auto& a, auto& b) {
    return std::abs(a.analytic - a.numeric) < std::abs(b.analytic - b.numeric);
  });
  return fmt::format(
      "input {} at {}: analytic {:.10g} numeric {:.10g} ({} of {} elements off; seed {})",
      it->input, to_string(it->index), it->analytic, it->numeric, mismatches.size(), checked, seed);
}

GradcheckReport gradcheck(const GradcheckFunction& f, const std::vector<Variable>& inputs,
                          const GradcheckOptions& options) {
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].requires_grad() && inputs[i].dtype() != DType::f64) {
      throw DTypeError(fmt::format("gradcheck: input {} is {}; finite differences need float64", i,
                                   dtype_name(inputs[i].dtype())));
    }
    if (!inputs[i].is_leaf()) {
      throw ValueError(fmt::format("gradcheck: input {} is not a leaf", i));
    }
  }
  GradcheckReport report;
  report.seed = options.seed;
  Rng rng(options.seed);

  // Analytic gradients: one backward pass with upstream weighting w.
  for (const Variable& v : inputs) {
    const_cast<Variable&>(v).zero_grad();  // NOLINT: the caller's leaves are ours during the check
  }
  const Variable y = f(inputs);
  Tensor w;
  if (y.numel() != 1) {
    w = randn(y.shape(), DType::f64, rng);
  }
  if (!y.requires_grad()) {
    throw ValueError(
        "gradcheck: the function's output does not depend on any input that requires a gradient");
  }
  y.backward(w.defined() ? w : Tensor::ones(y.shape(), DType::f64));

  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Variable& in = inputs[i];
    if (!in.requires_grad()) {
      continue;
    }
    Tensor x = in.data();  // shares storage with the leaf: perturbing it perturbs the input
    const Tensor analytic = in.grad().defined() ? in.grad() : Tensor::zeros(in.shape(), DType::f64);
    const std::int64_t n = x.numel();
    std::vector<std::int64_t> flats(static_cast<std::size_t>(n));
    for (std::int64_t k = 0; k < n; ++k) {
      flats[static_cast<std::size_t>(k)] = k;
    }
    if (n > options.max_elements) {  // seeded partial Fisher-Yates: a random subset
      for (std::int64_t k = 0; k < options.max_elements; ++k) {
        const std::int64_t j = k + rng.randint(n - k);
        std::swap(flats[static_cast<std::size_t>(k)], flats[static_cast<std::size_t>(j)]);
      }
      flats.resize(static_cast<std::size_t>(options.max_elements));
    }
    for (const std::int64_t flat : flats) {
      const std::vector<std::int64_t> index = unravel_index(flat, x.shape());
      const double orig = x.get(index);
      x.set(index, orig + options.step);
      const double lp = objective(f(inputs), w);
      x.set(index, orig - options.step);
      const double lm = objective(f(inputs), w);
      x.set(index, orig);
      const double numeric = (lp - lm) / (2.0 * options.step);
      const double a = analytic.get(index);
      const double err = std::abs(a - numeric);
      report.max_abs_error = std::max(report.max_abs_error, err);
      ++report.checked;
      if (!(err <= options.atol + options.rtol * std::abs(numeric))) {
        report.mismatches.push_back({i, index, a, numeric});
      }
    }
  }
  return report;
}

}  // namespace normlab
