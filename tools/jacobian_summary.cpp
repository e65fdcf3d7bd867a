// tools/jacobian_summary.cpp: the printed summary of `normlab jacobian`.
#include <fmt/format.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>

#include "core/shape.h"
#include "tools/jacobian.h"

namespace normlab {

namespace {

constexpr double kHolds = 1e-9;  // relative to max|J|: round-off of a few thousand terms

std::string verdict(double v) {
  return v <= kHolds ? fmt::format("holds (max {:.1e})", v)
                     : fmt::format("does not hold (max {:.3g})", v);
}

std::string eigen_line(const Spectrum& sp) {
  if (sp.eigenvalues.empty()) {
    return "eigenvalues: J is not square\n";
  }
  double lo = std::numeric_limits<double>::infinity(), hi = -lo, imag = 0;
  for (const auto& e : sp.eigenvalues) {
    lo = std::min(lo, e.real());
    hi = std::max(hi, e.real());
    imag = std::max(imag, std::abs(e.imag()));
  }
  const double scale = sp.singular_values.empty() ? 0 : sp.singular_values.front();
  return imag <= 1e-12 * std::max(scale, DBL_MIN)
             ? fmt::format("eigenvalues: real, from {:.6g} to {:.6g}\n", lo, hi)
             : fmt::format(
                   "eigenvalues: complex, real parts from {:.6g} to {:.6g}, |imag| up "
                   "to {:.3g}\n",
                   lo, hi, imag);
}

std::string plural(std::int64_t n, const char* one, const char* many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

}  // namespace

std::string jacobian_summary(const Jacobian& jac, const Spectrum& sp,
                             const std::optional<ReductionSets>& sets, const std::string& layer,
                             bool train) {
  std::string out;
  out += fmt::format("jacobian of {} ({}): y {} from x {}, J is {} x {}, max|J| = {:.6g}\n", layer,
                     train ? "train" : "eval", to_string(jac.y_shape), to_string(jac.x.shape()),
                     jac.rows, jac.cols, jac.max_abs());
  const double numpy_tol = static_cast<double>(std::max(jac.rows, jac.cols)) * DBL_EPSILON;
  out += fmt::format(
      "rank: {} of {} (singular values above {:.1e}·max, numpy's matrix_rank); {} above "
      "1e-3·max\n",
      sp.rank(numpy_tol), std::min(jac.rows, jac.cols), numpy_tol, sp.rank(1e-3));
  if (!sp.singular_values.empty()) {
    out += fmt::format(
        "singular values: {:.6g} down to {:.6g}; J splits into {}, the largest {} wide\n",
        sp.singular_values.front(), sp.singular_values.back(), plural(sp.blocks, "block", "blocks"),
        sp.largest_block);
  }
  out += eigen_line(sp);
  const Coupling c = jacobian_coupling(jac);
  out +=
      fmt::format("coupling: each output depends on inputs of up to {}, {}, {}; {}\n",
                  plural(c.samples, "sample", "samples"), plural(c.channels, "channel", "channels"),
                  plural(c.positions, "position", "positions"),
                  c.across_samples ? "outputs depend on other samples of the batch"
                                   : "no output depends on another sample");
  if (jac.rows == jac.cols) {  // Σ_i dx_i = Σ_k dy_k·(J·1)_k: zero for every dy iff J·1 = 0
    double row_sum = 0;
    for (std::int64_t o = 0; o < jac.rows; ++o) {
      double r = 0;
      for (std::int64_t i = 0; i < jac.cols; ++i) {
        r += jac.at(o, i);
      }
      row_sum = std::max(row_sum, std::abs(r));
    }
    out += fmt::format("J·1 = 0 (Σdx = 0 for every dy): {}\n",
                       verdict(jac.max_abs() > 0 ? row_sum / jac.max_abs() : row_sum));
  }
  if (!sets) {
    return out;
  }
  const SetChecks k = check_sets(jac, *sets);
  if (!train) {
    out +=
        "eval mode: where running statistics replace the batch's, mu and sigma are constants, "
        "J is diagonal and the set checks below are not expected to hold\n";
  }
  out += fmt::format("sets: {} ({}): {} of m = {}, eps = {:.3g}, affine {}\n", sets->rule,
                     sets->source, sets->count(), sets->layout.m(), sets->eps, sets->affine);
  out += fmt::format("  J_S·1 = 0 ({}, eq. D6): {}\n",
                     sets->subtracts_mean ? "the mean is subtracted" : "not expected: no mean",
                     verdict(k.ones));
  const std::string_view scale = layer == "batch_renorm" && train ? "γ·r" : "γ";  // BRN5
  out += fmt::format(
      "  J_S·x̂ = 0 at eps = 0 (eq. D7): max |J_S·x̂| = {:.3g}; equals "
      "{}·rstd·eps/(σ²+eps)·x̂: {}\n",
      k.xhat, scale, verdict(k.xhat_residual));
  out += fmt::format("  diag(1/{})·J_S symmetric: {}\n", scale, verdict(k.asymmetry));
  out += fmt::format("  J_ki = 0 for k, i in different sets: {}\n", verdict(k.outside));
  return out;
}

}  // namespace normlab
