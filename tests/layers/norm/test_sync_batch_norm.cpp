// SyncBatchNorm: equal to BatchNorm on one rank (bit for bit), the statistics merge, gradcheck, and
// the cross-rank path of its backward against BatchNorm over the concatenated batch, with a
// communicator that stands for two ranks holding the same shard. The real two-rank checks run
// under mpirun (tests/dist/).
#include <catch2/catch.hpp>
#include <cmath>

#include "autograd/ops.h"
#include "core/communicator.h"
#include "core/error.h"
#include "core/tensor_math.h"
#include "layers/norm/batch_norm.h"
#include "layers/norm/sync_batch_norm.h"
#include "tests/layers/norm/norm_test_util.h"

using namespace normlab;
using namespace normlab::test;

namespace {

// Two ranks whose shards are equal: what rank 0 sees when rank 1 holds the same x and dy. Sums
// double, a gather repeats the one part.
class MirrorCommunicator final : public Communicator {
 public:
  int rank() const noexcept override { return 0; }
  int size() const noexcept override { return 2; }
  void all_reduce_sum(std::span<float> data) override {
    for (float& v : data) {
      v *= 2;
    }
  }
  void all_reduce_sum(std::span<double> data) override {
    for (double& v : data) {
      v *= 2;
    }
  }
  void all_gather(std::span<const double> in, std::span<double> out) override {
    std::copy(in.begin(), in.end(), out.begin());
    std::copy(in.begin(), in.end(), out.begin() + static_cast<std::ptrdiff_t>(in.size()));
  }
  void broadcast(std::span<std::byte> /*data*/, int /*root*/) override {}
  void barrier() override {}
};

bool same(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && max_abs_diff(a, b) == 0.0;
}

}  // namespace

TEST_CASE("sync_batch_norm on one rank is batch_norm bit for bit", "[sync_batch_norm]") {
  const Shape shape =
      GENERATE(Shape{4, 3}, Shape{2, 3, 2, 3}, Shape{3, 5, 1, 1}, Shape{2, 2, 1, 1});
  CAPTURE(shape);
  Rng rng{11};
  SingleProcessCommunicator one;
  BatchNorm bn(shape[1], {.momentum = std::nullopt, .dtype = DType::f64});
  SyncBatchNorm sbn(shape[1], &one, {.momentum = std::nullopt, .dtype = DType::f64});
  randomize(bn.weight(), rng);
  randomize(bn.bias(), rng, 0.0);
  sbn.load_state_dict(bn.state_dict());
  const Tensor w = randn(shape, DType::f64, rng);
  for (int step = 0; step < 3; ++step) {  // the cumulative running average over three batches
    const Tensor x = randn(shape, DType::f64, rng, 0.5, 2.0);
    Variable xb(x.clone(), true), xs(x.clone(), true);
    const Variable yb = bn.forward(xb), ys = sbn.forward(xs);
    REQUIRE(same(ys.data(), yb.data()));
    sum(mul(yb, Variable(w))).backward();
    sum(mul(ys, Variable(w))).backward();
    REQUIRE(same(xs.grad(), xb.grad()));
    REQUIRE(same(sbn.weight().grad(), bn.weight().grad()));
    REQUIRE(same(sbn.bias().grad(), bn.bias().grad()));
    bn.weight().zero_grad();
    bn.bias().zero_grad();
    sbn.weight().zero_grad();
    sbn.bias().zero_grad();
  }
  REQUIRE(same(sbn.running_mean(), bn.running_mean()));
  REQUIRE(same(sbn.running_var(), bn.running_var()));
  sbn.eval();
  bn.eval();
  const Tensor x = randn(shape, DType::f64, rng);
  REQUIRE(same(sbn.forward_no_grad(x), bn.forward_no_grad(x)));
}

TEST_CASE("sync_batch_norm backward matches central differences", "[sync_batch_norm][gradcheck]") {
  const auto [shape, two] = GENERATE(table<Shape, bool>({
      {{3, 2, 2, 2}, false},  // one rank: the fused kernel's eq. D4
      {{1, 3, 2, 1}, false},  // N = 1
      {{3, 2, 2, 2}, true},   // two mirrored ranks: the cross-rank steps of eq. SBN8
      {{1, 3, 1, 1}, true},   // one value per channel on each rank; the global batch has two
  }));
  CAPTURE(shape, two);
  Rng rng{20240601};
  SingleProcessCommunicator one;
  MirrorCommunicator mirror;
  Communicator& comm = two ? static_cast<Communicator&>(mirror) : one;
  Variable gamma = randn_leaf({shape[1]}, rng, 1.0, 0.5);
  Variable beta = randn_leaf({shape[1]}, rng);
  auto f = [&](const std::vector<Variable>& in) {
    return sync_batch_norm_train(in[0], in[1], in[2], 1e-5, comm);
  };
  if (!two) {
    const GradcheckReport r =
        gradcheck(f, {randn_leaf(shape, rng, 0.5, 2.0), gamma, beta}, tight());
    INFO(r.worst());
    REQUIRE(r.ok());
    return;
  }
  // With mirrored ranks a change of x also changes the other rank's copy, so central differences
  // would see twice the dependence on the statistics; compare with BatchNorm over [x; x] instead.
  const Tensor x = randn(shape, DType::f64, rng, 0.5, 2.0);
  const Tensor dy = randn(shape, DType::f64, rng);
  Variable xs(x.clone(), true);
  const Variable ys = sync_batch_norm_train(xs, gamma, beta, 1e-5, comm);
  ys.backward(dy);
  Variable xx(concat({Variable(x), Variable(x)}, 0).data().clone(), true);
  Variable gamma2(gamma.data().clone(), true), beta2(beta.data().clone(), true);
  const Variable yb = batch_norm_train(xx, gamma2, beta2, 1e-5);
  yb.backward(concat({Variable(dy), Variable(dy)}, 0).data());
  require_close(ys.data(), yb.data().narrow(0, 0, shape[0]), 1e-13, "y");
  require_close(xs.grad(), xx.grad().narrow(0, 0, shape[0]), 1e-12, "dx");
  Tensor half_dgamma = gamma2.grad().clone(), half_dbeta = beta2.grad().clone();
  scale_(half_dgamma, 0.5);
  scale_(half_dbeta, 0.5);
  require_close(gamma.grad(), half_dgamma, 1e-12, "dgamma (this rank's part)");
  require_close(beta.grad(), half_dbeta, 1e-12, "dbeta (this rank's part)");
}

TEST_CASE("sync_batch_norm fused backward equals its labelled reference",
          "[sync_batch_norm][reference]") {
  const bool two = GENERATE(false, true);
  CAPTURE(two);
  Rng rng{5};
  SingleProcessCommunicator one;
  MirrorCommunicator mirror;
  Communicator& comm = two ? static_cast<Communicator&>(mirror) : one;
  const Shape shape{4, 3, 2, 5};
  const Tensor x = randn(shape, DType::f64, rng, 1.0, 3.0);
  const Tensor dy = randn(shape, DType::f64, rng);
  Variable xs(x, true);
  Variable gamma = randn_leaf({3}, rng, 1.0, 0.5), beta = randn_leaf({3}, rng);
  sync_batch_norm_train(xs, gamma, beta, 1e-5, comm).backward(dy);
  const NormGrads ref = sync_batch_norm_backward_reference(x, dy, gamma.data(), 1e-5, comm);
  require_close(xs.grad(), ref.dx, 1e-12, "dx");
  require_close(gamma.grad(), ref.dgamma, 1e-12, "dgamma");
  require_close(beta.grad(), ref.dbeta, 1e-12, "dbeta");
}

TEST_CASE("chan_merge gives the statistics of the union, also far from zero",
          "[sync_batch_norm][merge]") {
  // Values 1e8 + small offsets: E[x²] − E[x]² would lose every digit of the variance in double
  // (x² ≈ 1e16 has a spacing of 2). The merge loses only what the means' own rounding (1.5e-8)
  // carries into δ.
  const std::vector<double> a{1e8 + 1, 1e8 + 2, 1e8 + 4}, b{1e8 + 3, 1e8 + 7};
  auto stats = [](const std::vector<double>& v) {
    double mean = 0;
    for (const double e : v) {
      mean += e;
    }
    mean /= static_cast<double>(v.size());
    double m2 = 0;
    for (const double e : v) {
      m2 += (e - mean) * (e - mean);
    }
    return BatchStats{
        {mean}, {m2 / static_cast<double>(v.size())}, static_cast<std::int64_t>(v.size())};
  };
  std::vector<double> all = a;
  all.insert(all.end(), b.begin(), b.end());
  const BatchStats merged = chan_merge(stats(a), stats(b)), direct = stats(all);
  REQUIRE(merged.m == 5);
  REQUIRE(merged.mean[0] == Approx(direct.mean[0]).epsilon(1e-15));
  REQUIRE(merged.var[0] == Approx(direct.var[0]).epsilon(1e-8));
  REQUIRE(direct.var[0] == Approx(4.24).epsilon(1e-12));
  const BatchStats empty{{0.0}, {0.0}, 0};
  REQUIRE(chan_merge(empty, stats(a)).var == stats(a).var);
  REQUIRE_THROWS_WITH(chan_merge(stats(a), BatchStats{{0, 0}, {0, 0}, 2}),
                      Catch::Contains("sync_batch_norm") && Catch::Contains("1 and 2 channels"));
}

TEST_CASE("sync_batch_norm rejects a global batch of one value per channel",
          "[sync_batch_norm][errors]") {
  SingleProcessCommunicator one;
  SyncBatchNorm sbn(3, &one);
  REQUIRE_THROWS_WITH(sbn.forward(Variable(Tensor::zeros({1, 3, 1, 1}, DType::f32))),
                      Catch::Contains("sync_batch_norm") && Catch::Contains("[1, 3, 1, 1]") &&
                          Catch::Contains("ranks: 1"));
  MirrorCommunicator mirror;
  SyncBatchNorm two(3, &mirror);
  REQUIRE(two.forward(Variable(Tensor::zeros({1, 3, 1, 1}, DType::f32))).shape() ==
          Shape{1, 3, 1, 1});
  REQUIRE_THROWS_AS(SyncBatchNorm(0, &one), ValueError);
}
