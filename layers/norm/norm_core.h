// layers/norm/norm_core.h: the one statistics-and-normalize core of the normalization family.
// GN paper (Wu & He 2018, arXiv:1803.08494), eq. 1–7: x̂_i = (x_i − μ_i)/σ_i with μ_i, σ_i taken
// over a set S_i; BN, LN, IN and GN differ only in S_i. Viewed as a 3-D array (outer, sets, inner),
// every one of those sets is "fix the middle index s, range over (a, d)".
// Derivation of the backward: docs/normalization/derivation.md, eq. D0–D5. The fast path (one
// fused forward and backward, one node) is set_norm_kernels.h and set_norm.h; the kernels here are
// the readable primitives the per-layer reference backwards and weight standardization use.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "autograd/variable.h"
#include "core/tensor.h"

namespace normlab {

// x viewed as (outer, sets, inner); set s = { x[a][s][d] : all a, d };  m = outer · inner.
//   BatchNorm     S_i = {k : k_C = i_C}                              (N, C,   H·W)        GN eq. 3
//   LayerNorm     S_i = {k : k_N = i_N}                              (1, N,   C·H·W)      GN eq. 4
//   InstanceNorm  S_i = {k : k_N = i_N, k_C = i_C}                   (1, N·C, H·W)        GN eq. 5
//   GroupNorm     S_i = {k : k_N = i_N, ⌊k_C/(C/G)⌋ = ⌊i_C/(C/G)⌋}   (1, N·G, (C/G)·H·W)  GN eq. 7
struct SetLayout {
  std::int64_t outer = 1, sets = 1, inner = 1;
  std::int64_t m() const { return outer * inner; }
};

// (N, C, H·W) for x of shape (N, C, *): the set of a channel. BN's S_i (GN paper eq. 3), and the
// layout of every per-channel affine reduction (dγ_c, dβ_c) in the family.
SetLayout channel_layout(const Shape& shape);

// ---- readable primitives: unchecked, raw pointers, contiguous memory ----

// eq. D0:  μ_s = (1/m) Σ_{k∈S_s} x_k,   σ²_s = (1/m) Σ_{k∈S_s} (x_k − μ_s)²   (biased), in double.
// Each contiguous row of `inner` values is read twice (its sum, then Σ(x − μ_row)²) while it is in
// cache, and the rows are merged with Chan, Golub & LeVeque's update, never E[x²] − E[x]².
// x: (outer, sets, inner); mean, var: (sets)
template <class T>
void set_mean_var(const T* x, SetLayout L, double* mean, double* var);

// GN paper eq. 1:  x̂_k = (x_k − μ_s) · rstd_s, computed in double.   x, xhat: (outer, sets, inner)
template <class T>
void set_normalize_forward(const T* x, const double* mean, const double* rstd, SetLayout L,
                           T* xhat);

// eq. D4, given g = ∂L/∂x̂:
//   ∂L/∂x_k = rstd_s / m · ( m·g_k − Σ_{j∈S_s} g_j − x̂_k · Σ_{j∈S_s} g_j·x̂_j )
// g, xhat, dx: (outer, sets, inner); rstd: (sets)
template <class T>
void set_normalize_backward(const T* g, const T* xhat, const double* rstd, SetLayout L, T* dx);

// Per set: sum_a[s] = Σ_{k∈S_s} a_k and, when b is not null, sum_ab[s] = Σ_{k∈S_s} a_k·b_k.
// With the affine's layout these are dβ = Σ dy and dγ = Σ dy·x̂ (eq. D5).
template <class T>
void set_sums(const T* a, const T* b, SetLayout L, double* sum_a, double* sum_ab);

// GN paper eq. 6 with the affine's own layout:  y_k = γ_s·x̂_k + β_s   (gamma null: γ = 1; beta
// null: β = 0)
template <class T>
void set_affine_forward(const T* xhat, const T* gamma, const T* beta, SetLayout L, T* y);

// The affine's backward to x̂:  g_k = γ_s · dy_k   (gamma null: g = dy)
template <class T>
void set_scale(const T* dy, const T* gamma, SetLayout L, T* g);

// ---- Tensor-level plumbing the layers share ----

// rstd_s = 1 / sqrt(σ²_s + ε)
std::vector<double> rstd_from_var(const std::vector<double>& var, double eps);

// ValueError "op: eps must be positive and finite (eps: ...)".
void check_eps(std::string_view op, double eps);

// The ranks a layer accepts for x of shape (N, C, *).
struct RankRange {
  int min = 2, max = 8;
};
inline constexpr RankRange kChannelsFirstRank{2, 8};  // GroupNorm, channel norm: (N, C, *)
inline constexpr RankRange kBatchNormRank{2, 5};      // PyTorch's BatchNorm1d/2d/3d
inline constexpr RankRange kImageRank{4, 4};          // InstanceNorm2d: (N, C, H, W)

// ShapeError unless x is defined and floating with a rank in `ranks` ("expected a 2-D to 5-D
// input (N, C, ...)"); DTypeError for an integer tensor.
void check_rank(std::string_view op, const Tensor& x, RankRange ranks);

// check_rank, then ShapeError unless x has `channels` channels (dimension 1).
void check_channels(std::string_view op, const Tensor& x, RankRange ranks, std::int64_t channels);

// The affine parameters' tensors (undefined when the layer has none), checked against x's dtype
// and against `numel` elements.
Tensor affine_tensor(std::string_view op, const Variable& p, const Tensor& x, std::int64_t numel,
                     std::string_view name);

// The elements of an optional (possibly undefined) contiguous tensor, or null.
template <class T>
const T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>().data() : nullptr;
}

// p without its history (undefined stays undefined): forward_no_grad runs a forward that records
// nothing.
Variable frozen(const Variable& p);

// ShapeError unless groups > 0 divides channels > 0, naming op, the channels and the groups.
void check_groups_divide(std::string_view op, std::int64_t channels, std::int64_t groups);

// normalized_shape itself when it is non-empty with positive dims (LayerNorm, RMSNorm); ValueError
// naming op otherwise.
const Shape& checked_normalized_shape(std::string_view op, const Shape& normalized_shape);

// A shape as Python prints a tuple: "(4,)", "(4, 5)" (the extra_repr of LayerNorm and RMSNorm).
std::string python_shape(const Shape& shape);

// running_mean = 0, running_var = 1 (C) and, when not null, num_batches_tracked = 0 (an int64
// scalar): the start of every layer that keeps running statistics.
void init_running_stats(Tensor& running_mean, Tensor& running_var, Tensor* num_batches_tracked,
                        std::int64_t C, DType dtype);

// running ← (1 − f)·running + f·value, element by element (value in double).
void blend_(Tensor& running, const std::vector<double>& value, double factor);

// Per-set values as a float tensor of shape (sets) in `dtype`.
Tensor to_tensor(const std::vector<double>& values, DType dtype);
std::vector<double> to_doubles(const Tensor& t);

// ---- the readable reference of the backward, step by step ----
// Each layer writes its backward as labelled steps over these Tensor-level primitives
// (<layer>_backward_reference); the tests hold the fused kernels of set_norm_kernels.h against it.

struct NormGrads {
  Tensor dx, dgamma, dbeta;  // dgamma, dbeta: (affine sets) in x's dtype
};

// The forward's intermediates over `sets` (eq. D0, D1): x̂ (x's shape) and rstd (sets).
struct NormalizedInput {
  Tensor xhat;
  std::vector<double> rstd;
};
NormalizedInput normalize_reference(const Tensor& x, SetLayout sets, double eps);

// step "dβ, dγ": per set of `affine`, Σ dy and Σ dy·x̂ (eq. D5).
NormGrads affine_grads_reference(const Tensor& dy, const Tensor& xhat, SetLayout affine);
// step "g": g = γ_s·dy with γ indexed by the sets of `affine` (undefined γ: g = dy).
Tensor scale_reference(const Tensor& dy, const Tensor& gamma, SetLayout affine);
// step "dx": eq. D4 over `sets`, given g = ∂L/∂x̂.
Tensor normalize_backward_reference(const Tensor& g, const NormalizedInput& n, SetLayout sets);

}  // namespace normlab
