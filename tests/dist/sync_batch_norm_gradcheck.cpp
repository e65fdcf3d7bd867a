// SyncBatchNorm's backward against central differences across the ranks of a real MPI job
// (`mpirun -np 2 sync_batch_norm_gradcheck`, the CTest "dist: ..."). Each rank holds its own
// shard x_r and projection w_r; the loss is L = Σ_r Σ w_r ⊙ y_r, the sum of every rank's part.
// A value of x on rank p is perturbed on rank p alone, every rank runs the forward (a collective)
// and L is summed over the ranks; γ and β are shared, so all ranks perturb them together. Also
// checks that y is BatchNorm over the concatenated global batch. Float64; exit status 0 only when
// every value passes |a − n| ≤ 1e-8 + 1e-6·|n| on every rank, and there are several ranks.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>

#include "autograd/ops.h"
#include "core/random.h"
#include "core/tensor_math.h"
#include "dist/launch.h"
#include "layers/norm/batch_norm.h"
#include "layers/norm/sync_batch_norm.h"

using namespace normlab;

namespace {

constexpr double kEps = 1e-5, kStep = 1e-6, kAtol = 1e-8, kRtol = 1e-6;

struct Problem {
  Communicator& comm;
  Tensor x, w, gamma, beta;  // x, w: this rank's; gamma, beta: the same on every rank

  // L summed over the ranks (every rank gets it).
  double loss() const {
    const Variable y =
        sync_batch_norm_train(Variable(x), Variable(gamma), Variable(beta), kEps, comm);
    double l = dot_all(y.data(), w);
    comm.all_reduce_sum(std::span<double>(&l, 1));
    return l;
  }
  // (L(t_i + h) − L(t_i − h)) / 2h with t one of the tensors above, changed in place.
  double numeric(Tensor& t, std::int64_t i, bool change) const {
    const auto k = static_cast<std::size_t>(i);
    const double v = t.data<double>()[k];
    t.data<double>()[k] = change ? v + kStep : v;
    const double plus = loss();
    t.data<double>()[k] = change ? v - kStep : v;
    const double minus = loss();
    t.data<double>()[k] = v;
    return (plus - minus) / (2 * kStep);
  }
};

struct Tally {
  std::int64_t checked = 0, failed = 0;
  double worst = 0;
  void add(double analytic, double numeric, const std::string& what, int rank) {
    const double err = std::abs(analytic - numeric);
    ++checked;
    worst = std::max(worst, err);
    if (err > kAtol + kRtol * std::abs(numeric)) {
      ++failed;
      std::fprintf(stderr, "rank %d: %s: analytic %.10g numeric %.10g\n", rank, what.c_str(),
                   analytic, numeric);
    }
  }
};

int run(Communicator& comm) {
  const int rank = comm.rank(), K = comm.size();
  const Shape shape{2, 3, 2, 2};
  Rng shared(1), own(10 + static_cast<std::uint64_t>(rank));
  Problem p{comm, randn(shape, DType::f64, own, 0.5 * rank, 1.0 + rank),
            randn(shape, DType::f64, own), randn({3}, DType::f64, shared, 1.0, 0.5),
            randn({3}, DType::f64, shared)};
  Tally tally;

  // The analytic gradients: dx of this rank; dγ, dβ summed over the ranks (they are shared).
  Variable xv(p.x, true), gv(p.gamma, true), bv(p.beta, true);
  sum(mul(sync_batch_norm_train(xv, gv, bv, kEps, comm), Variable(p.w))).backward();
  Tensor dgamma = gv.grad().clone(), dbeta = bv.grad().clone();
  comm.all_reduce_sum(dgamma.data<double>());
  comm.all_reduce_sum(dbeta.data<double>());

  // y is BatchNorm over the concatenated global batch.
  std::vector<double> all(static_cast<std::size_t>(p.x.numel() * K));
  comm.all_gather(p.x.data<double>(), all);
  Shape global = shape;
  global[0] *= K;
  const Tensor y_all = batch_norm_train(Variable(Tensor::from_vector(global, all, DType::f64)),
                                        Variable(p.gamma), Variable(p.beta), kEps)
                           .data();
  const double forward_gap = max_abs_diff(
      y_all.narrow(0, rank * shape[0], shape[0]),
      sync_batch_norm_train(Variable(p.x), Variable(p.gamma), Variable(p.beta), kEps, comm).data());
  if (forward_gap > 1e-12) {
    std::fprintf(stderr, "rank %d: y differs from BatchNorm over the global batch by %g\n", rank,
                 forward_gap);
    ++tally.failed;
  }

  for (int owner = 0; owner < K; ++owner) {  // x of rank `owner`, one value at a time
    for (std::int64_t i = 0; i < p.x.numel(); ++i) {
      const double n = p.numeric(p.x, i, rank == owner);
      if (rank == owner) {
        tally.add(xv.grad().data<double>()[static_cast<std::size_t>(i)], n,
                  fmt::format("dx[{}]", i), rank);
      }
    }
  }
  for (std::int64_t c = 0; c < 3; ++c) {
    const auto k = static_cast<std::size_t>(c);
    tally.add(dgamma.data<double>()[k], p.numeric(p.gamma, c, true), fmt::format("dgamma[{}]", c),
              rank);
    tally.add(dbeta.data<double>()[k], p.numeric(p.beta, c, true), fmt::format("dbeta[{}]", c),
              rank);
  }
  std::vector<double> totals{static_cast<double>(tally.checked), static_cast<double>(tally.failed)};
  comm.all_reduce_sum(totals);
  if (rank == 0) {
    std::printf(
        "sync_batch_norm gradcheck over %d ranks: %.0f values, %.0f failed, worst |a - n| on "
        "rank 0 %.3g\n",
        K, totals[0], totals[1], tally.worst);
  }
  return totals[1] == 0 && K > 1 ? 0 : 1;
}

}  // namespace

int main() {
  try {
    const std::unique_ptr<Communicator> comm = join_job();
    return run(*comm);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sync_batch_norm_gradcheck: %s\n", e.what());
    abort_job(2);
  }
}
