// tools/jacobian.h: `normlab jacobian` as library functions (tools/cmd_jacobian.cpp is its CLI).
// The full Jacobian J = ∂y/∂x of one layer of the layer table, in float64, from the layer's own
// hand-written backward: one forward through the Variable path, then one backward per output
// element o with the one-hot upstream gradient e_o, so row o of J is ∂y_o/∂x:
//   x = leaf(input, requires_grad);  y = layer.forward(x);  y.backward(e_o, retain_graph)
// Then its spectrum, the per-set checks of docs/normalization/derivation.md, which inputs each
// output depends on, and a picture. tools/check_jacobian.py compares J with
// torch.autograd.functional.jacobian.
#pragma once

#include <complex>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "datasets/image_io.h"
#include "tools/probe.h"
#include "tools/reduction_sets.h"

namespace normlab {

struct Jacobian {
  Tensor x;               // the input, float64
  Shape y_shape;          // the output's shape
  std::int64_t rows = 0;  // numel(y)
  std::int64_t cols = 0;  // numel(x)
  std::vector<double> J;  // (rows, cols), row-major; y and x flattened in row-major order
  double at(std::int64_t o, std::int64_t i) const {
    return J[static_cast<std::size_t>(o * cols + i)];
  }
  double max_abs() const;
};

// The request of `normlab jacobian` and `normlab explain` from their flags, which are probe's
// (tools/probe.h) plus --shape: exactly one of input (a .npy path) and shape ("2x3x4x4", then
// x ~ N(0, 1) in float64 from Rng(seed)) is given; ValueError otherwise.
ProbeRequest jacobian_request(const std::string& layer, const std::vector<std::string>& settings,
                              const std::string& input, const std::string& shape,
                              std::uint64_t seed, const std::string& mode,
                              const std::string& params);

// J of request.layer at request.input (converted to float64; the layer is built in float64).
// request.grad_output is not used. The errors of run_probe.
Jacobian compute_jacobian(const ProbeRequest& request);

// Central differences (f(x + h·e_i) − f(x − h·e_i)) / 2h through forward_no_grad, one column per
// input element; the layer's buffers are restored before every evaluation, so running statistics
// (which Batch Renorm reads in training) stay those of the analytic Jacobian's forward.
std::vector<double> numeric_jacobian(const ProbeRequest& request, double step);

// Singular values (largest first) and, when J is square, eigenvalues (by real part, largest
// first). J is split into its connected blocks first (rows and columns joined by a nonzero entry;
// index i of a square J is one node for its row and column), so a BatchNorm of C channels costs C
// small decompositions rather than one large one.
struct Spectrum {
  std::vector<double> singular_values;
  std::vector<std::complex<double>> eigenvalues;  // empty unless J is square
  std::int64_t blocks = 0;
  std::int64_t largest_block = 0;                // rows + columns of the largest block
  std::int64_t rank(double relative_tol) const;  // singular values > relative_tol · largest
};
Spectrum jacobian_spectrum(const Jacobian& jac);

// Over all sets S of a normalization layer, each relative to max|J| · max|v|:
//   ones:   max |J_S·1|, zero where the mean is subtracted (eq. D6)
//   xhat:   max |J_S·x̂|, zero at ε = 0 (eq. D7); at ε > 0 it is s·rstd·ε/(σ²+ε)·x̂ exactly (s =
//   row_scale: γ, or γ·r) xhat_residual: max |J_S·x̂ − s·rstd·ε/(σ²+ε)·x̂|, the check of that exact
//   value asymmetry: max |P_S − P_Sᵀ| / max|P_S| with P_S = diag(1/s)·J_S outside: max |J_ki| over
//   k, i in different sets (zero: the sets do not couple)
struct SetChecks {
  double ones = 0, xhat = 0, xhat_residual = 0, asymmetry = 0, outside = 0;
};
SetChecks check_sets(const Jacobian& jac, const ReductionSets& sets);

// For every output, the number of distinct samples (axis 0), channels (axis 1) and positions
// (axes 2...) among the inputs it depends on (J_oi ≠ 0); the largest over outputs. across_samples:
// some output depends on an input of another sample (x and y with the same batch size).
struct Coupling {
  std::int64_t samples = 0, channels = 0, positions = 0;
  bool across_samples = false;
};
Coupling jacobian_coupling(const Jacobian& jac);

// The printed summary: shapes, rank, spectrum, coupling and the per-set checks, one per line.
std::string jacobian_summary(const Jacobian& jac, const Spectrum& spectrum,
                             const std::optional<ReductionSets>& sets, const std::string& layer,
                             bool train);

// spectrum.csv: "index,singular_value,eigenvalue_real,eigenvalue_imag" (empty eigenvalue cells
// when J is not square).
std::string spectrum_csv(const Spectrum& spectrum);

// jacobian.png: J as a heatmap in a diverging map (blue < 0 < red, white at zero, colour ∝
// sign(J)·sqrt(|J|/max|J|)), samples and channels labelled and ruled, the blocks S_i × S_i of
// every reduction set outlined in black, a colour bar and a title. Large J is shown with one
// pixel per block of entries (the entry of largest magnitude).
Image render_jacobian(const Jacobian& jac, const std::optional<ReductionSets>& sets,
                      const std::string& title);

}  // namespace normlab
