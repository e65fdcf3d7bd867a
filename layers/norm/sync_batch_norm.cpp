// layers/norm/sync_batch_norm.cpp: SyncBatchNorm's statistics merge, its forward and backward
// over the global batch, its reference backward and its module. Equations SBN1–SBN8:
// docs/normalization/sync_batch_norm.md; BN1–BN11: docs/normalization/batch_norm.md; D0–D5:
// docs/normalization/derivation.md. The per-rank work runs on the family's fused kernels
// (set_norm.h, set_norm_kernels.h); what is new here is what crosses the ranks.
#include "layers/norm/sync_batch_norm.h"

#include <fmt/format.h>

#include <cmath>
#include <utility>

#include "autograd/node.h"
#include "core/error.h"
#include "layers/norm/set_norm.h"

namespace normlab {

namespace {

constexpr std::string_view kOp = "sync_batch_norm";

// Step 3 of the backward on more than one rank. dx holds rstd_c·γ_c·dy (the fused kernel's
// eq. BN10); subtracting the two terms of the global sums turns it into eq. SBN8:
//   dx −= rstd_c·γ_c/M · (Σ_all dy + x̂·Σ_all dy·x̂),   x̂ = (x − μ_c)·rstd_c
// x, dx: (N, C, HW); mean, rstd, gamma_c (γ, 1 without affine), sum_dy, sum_dy_xhat: (C)
template <class T>
void sync_batch_norm_dx_correction(const T* x, SetLayout L, const double* mean, const double* rstd,
                                   const double* gamma, const double* sum_dy,
                                   const double* sum_dy_xhat, double M, T* dx) {
  for (std::int64_t n = 0; n < L.outer; ++n) {
    for (std::int64_t c = 0; c < L.sets; ++c) {
      const double k = rstd[c] * gamma[c] / M;
      const std::int64_t row = (n * L.sets + c) * L.inner;
      for (std::int64_t i = row; i < row + L.inner; ++i) {
        const double xhat = (static_cast<double>(x[i]) - mean[c]) * rstd[c];
        dx[i] =
            static_cast<T>(static_cast<double>(dx[i]) - k * (sum_dy[c] + xhat * sum_dy_xhat[c]));
      }
    }
  }
}

// Saves x (not x̂), the global μ and rstd, γ, and the global count M.
struct SyncBatchNormNode final : Node {
  Communicator* comm = nullptr;
  NormPlan plan;
  std::int64_t M = 0;
  Tensor x, gamma;
  Shape gamma_shape, beta_shape;
  bool has_gamma = false, has_beta = false;
  std::vector<double> mean, rstd;

  // eq. SBN5–SBN8, given dy (N, C, HW):
  //   step 1  per channel, this rank:  Σdy and Σdy·x̂ (also dβ_c and dγ_c, eq. SBN5, SBN6),
  //           and dx = rstd_c·γ_c·dy; one sweep of the fused kernel
  //   step 2  the two sums over every rank: one all_reduce_sum of 2·C values
  //   step 3  dx = rstd_c/M · (M·g − γ_c·Σ_all dy − x̂·γ_c·Σ_all dy·x̂)     (eq. SBN8, g = γ_c·dy)
  // On one rank the local sums are the global ones, and the fused kernel's own eq. D4 is SBN8
  // exactly, so that one sweep gives dx, bit for bit as BatchNorm's.
  std::vector<Tensor> backward(const Tensor& dy_in) override {
    const Tensor dy = dy_in.contiguous();
    Tensor dx = Tensor::empty(x.shape(), x.dtype());
    const auto C = static_cast<std::size_t>(plan.affine.numel);
    const bool alone = comm->size() == 1;
    std::vector<double> sums(2 * C);  // [Σdy (C), Σdy·x̂ (C)]
    double* sum_dy = sums.data();
    double* sum_dy_xhat = sums.data() + C;
    visit_float(x.dtype(), kOp, [&]<class T>() {
      set_norm_backward(plan, dy.data<T>().data(), x.data<T>().data(), data_or_null<T>(gamma), {},
                        mean.data(), rstd.data(), /*constant_stats=*/!alone, dx.data<T>().data(),
                        sum_dy_xhat, sum_dy);  // step 1
    });
    std::vector<double> local = sums;  // dβ, dγ are this rank's parts
    if (!alone) {
      comm->all_reduce_sum(sums);  // step 2
      const std::vector<double> g = gamma.defined() ? to_doubles(gamma) : std::vector<double>(C, 1);
      visit_float(x.dtype(), kOp, [&]<class T>() {  // step 3
        sync_batch_norm_dx_correction(x.data<T>().data(), plan.sets, mean.data(), rstd.data(),
                                      g.data(), sum_dy, sum_dy_xhat, static_cast<double>(M),
                                      dx.data<T>().data());
      });
    }
    const DType t = x.dtype();
    const std::vector<double> dbeta(local.begin(), local.begin() + static_cast<std::ptrdiff_t>(C));
    const std::vector<double> dgamma(local.begin() + static_cast<std::ptrdiff_t>(C), local.end());
    return {dx, has_gamma ? to_tensor(dgamma, t).view(gamma_shape) : Tensor(),
            has_beta ? to_tensor(dbeta, t).view(beta_shape) : Tensor()};
  }
  std::string_view name() const override { return kOp; }
  void release() override { x = gamma = Tensor(); }
};

}  // namespace

BatchStats chan_merge(const BatchStats& a, const BatchStats& b) {
  if (a.mean.size() != b.mean.size() || a.var.size() != a.mean.size() ||
      b.var.size() != b.mean.size()) {
    throw ValueError(fmt::format("{}: cannot merge statistics of {} and {} channels", kOp,
                                 a.mean.size(), b.mean.size()));
  }
  if (b.m == 0) {
    return a;
  }
  if (a.m == 0) {
    return b;
  }
  BatchStats out{std::vector<double>(a.mean.size()), std::vector<double>(a.mean.size()), a.m + b.m};
  const auto ma = static_cast<double>(a.m), mb = static_cast<double>(b.m);
  const double m = ma + mb;
  for (std::size_t c = 0; c < a.mean.size(); ++c) {
    const double delta = b.mean[c] - a.mean[c];
    out.mean[c] = a.mean[c] + delta * mb / m;
    out.var[c] = (ma * a.var[c] + mb * b.var[c] + delta * delta * ma * mb / m) / m;  // M2 / m
  }
  return out;
}

// eq. SBN1–SBN2: each rank sends (m, μ (C), σ² (C)); every rank merges the parts in rank order.
BatchStats global_batch_stats(const BatchStats& local, Communicator& comm) {
  if (comm.size() == 1) {
    return local;
  }
  const std::size_t C = local.mean.size();
  std::vector<double> mine;
  mine.reserve(1 + 2 * C);
  mine.push_back(static_cast<double>(local.m));  // exact: counts stay far below 2^53
  mine.insert(mine.end(), local.mean.begin(), local.mean.end());
  mine.insert(mine.end(), local.var.begin(), local.var.end());
  std::vector<double> all(mine.size() * static_cast<std::size_t>(comm.size()));
  comm.all_gather(mine, all);
  BatchStats merged{std::vector<double>(C), std::vector<double>(C), 0};
  for (int r = 0; r < comm.size(); ++r) {
    const auto part = std::span<const double>(all).subspan(
        static_cast<std::size_t>(r) * mine.size(), mine.size());
    const BatchStats p{{part.begin() + 1, part.begin() + 1 + static_cast<std::ptrdiff_t>(C)},
                       {part.begin() + 1 + static_cast<std::ptrdiff_t>(C), part.end()},
                       static_cast<std::int64_t>(part[0])};
    merged = chan_merge(merged, p);
  }
  return merged;
}

// forward, eq. SBN1–SBN4 over S_c = all (n, hw) of channel c on every rank:
//   step 1  this rank's m, μ_c, σ²_c (the fused statistics kernel, x read once)      (BN1, BN2)
//   step 2  the global μ_c, σ²_c, M: gathered and merged in rank order (Chan)      (SBN1, SBN2)
//   step 3  x̂ = (x − μ_c)·rstd_c,  y = γ_c·x̂ + β_c with the global statistics      (SBN3, SBN4)
Variable sync_batch_norm_train(const Variable& x, const Variable& weight, const Variable& bias,
                               double eps, Communicator& comm, BatchStats* stats) {
  check_rank(kOp, x.data(), kBatchNormRank);
  check_eps(kOp, eps);
  const Tensor xc = x.data().contiguous();
  const NormPlan plan = batch_norm_plan(xc.shape());
  const BatchStats global = global_batch_stats(set_statistics(kOp, xc, plan), comm);  // 1, 2
  if (global.m <= 1) {
    throw ValueError(fmt::format(
        "{}: expected more than 1 value per channel in the global batch when training (x: {}, "
        "ranks: {})",
        kOp, to_string(xc.shape()), comm.size()));
  }
  std::vector<double> rstd = rstd_from_var(global.var, eps);
  // Step 3 on plain tensors: nothing is recorded here, the node below is this layer's own.
  const Tensor y =
      set_norm_with_stats(kOp, Variable(xc), plan,
                          {.mean = global.mean, .rstd = rstd, .constant = true, .renorm = {}},
                          frozen(weight), frozen(bias))
          .data();
  if (stats != nullptr) {
    *stats = global;
  }
  std::shared_ptr<SyncBatchNormNode> node;
  if (any_requires_grad({x, weight, bias})) {
    node = std::make_shared<SyncBatchNormNode>();
    node->comm = &comm;
    node->plan = plan;
    node->M = global.m;
    node->x = xc;
    node->gamma = affine_tensor(kOp, weight, xc, plan.affine.numel, "weight");
    node->has_gamma = weight.defined();
    node->has_beta = bias.defined();
    node->gamma_shape = weight.defined() ? weight.shape() : Shape{};
    node->beta_shape = bias.defined() ? bias.shape() : Shape{};
    node->mean = global.mean;
    node->rstd = std::move(rstd);
  }
  return make_output(y, node, {x, weight, bias});
}

// backward, eq. SBN5–SBN8, given dy (N, C, HW) and x:
//   step 0  global μ_c, rstd_c (eq. SBN1–SBN2) and x̂ = (x − μ_c)·rstd_c
//   step 1  dβ_c = Σ_{n,hw} dy,  dγ_c = Σ_{n,hw} dy·x̂   (this rank's parts, eq. SBN5, SBN6)
//   step 2  g = γ_c·dy (eq. SBN7); per channel Σg and Σg·x̂ on this rank
//   step 3  Σg and Σg·x̂ summed over every rank
//   step 4  dx = rstd_c/M · (M·g − Σ_all g − x̂·Σ_all g·x̂)   (eq. SBN8)
NormGrads sync_batch_norm_backward_reference(const Tensor& x, const Tensor& dy, const Tensor& gamma,
                                             double eps, Communicator& comm) {
  const Tensor xc = x.contiguous();
  const SetLayout L = channel_layout(xc.shape());
  const auto C = static_cast<std::size_t>(L.sets);
  BatchStats local{std::vector<double>(C), std::vector<double>(C), L.m()};
  NormalizedInput n{Tensor::empty(xc.shape(), xc.dtype()), {}};
  std::vector<double> sums(2 * C);  // [Σg (C), Σg·x̂ (C)]
  NormGrads grads;
  Tensor g;
  BatchStats global;
  visit_float(xc.dtype(), kOp, [&]<class T>() {
    set_mean_var(xc.data<T>().data(), L, local.mean.data(), local.var.data());  // step 0
    global = global_batch_stats(local, comm);
    n.rstd = rstd_from_var(global.var, eps);
    set_normalize_forward(xc.data<T>().data(), global.mean.data(), n.rstd.data(), L,
                          n.xhat.data<T>().data());
    grads = affine_grads_reference(dy, n.xhat, L);  // step 1
    g = scale_reference(dy, gamma, L);              // step 2
    set_sums(g.data<T>().data(), n.xhat.data<T>().data(), L, sums.data(), sums.data() + C);
  });
  comm.all_reduce_sum(sums);  // step 3
  grads.dx = Tensor::empty(xc.shape(), xc.dtype());
  const auto M = static_cast<double>(global.m);
  visit_float(xc.dtype(), kOp, [&]<class T>() {  // step 4
    const T* gp = g.data<T>().data();
    const T* xhat = n.xhat.data<T>().data();
    T* dx = grads.dx.data<T>().data();
    for (std::int64_t a = 0; a < L.outer; ++a) {
      for (std::int64_t c = 0; c < L.sets; ++c) {
        const auto s = static_cast<std::size_t>(c);
        for (std::int64_t i = (a * L.sets + c) * L.inner; i < (a * L.sets + c + 1) * L.inner; ++i) {
          const double term1 = M * static_cast<double>(gp[i]);
          const double term2 = sums[s];
          const double term3 = static_cast<double>(xhat[i]) * sums[C + s];
          dx[i] = static_cast<T>(n.rstd[s] / M * (term1 - term2 - term3));
        }
      }
    }
  });
  return grads;
}

SyncBatchNorm::SyncBatchNorm(std::int64_t num_features, Communicator* comm,
                             const BatchNormOptions& options)
    : RunningStatsNorm(running_stats_config(kOp, num_features, options)),
      options_(options),
      comm_(comm != nullptr ? comm : &alone_) {}

// BatchNorm's modes with the global batch: the running statistics take the global μ and the
// unbiased global σ²·M/(M − 1), so they stay identical on every rank.
Variable SyncBatchNorm::normalize(const Variable& x, const Variable& weight, const Variable& bias) {
  check_channels(kOp, x.data(), kBatchNormRank, num_features());
  return batch_norm_by_mode(*this, options_, x, weight, bias, [&](BatchStats* stats) {
    return sync_batch_norm_train(x, weight, bias, options_.eps, *comm_, stats);
  });
}

std::string SyncBatchNorm::extra_repr() const {
  const std::string momentum =
      options_.momentum ? fmt::format("{}", *options_.momentum) : std::string("None");
  return fmt::format("{}, eps={}, momentum={}, affine={}, ranks={}", num_features(), options_.eps,
                     momentum, options_.affine ? "True" : "False", comm_->size());
}

}  // namespace normlab
