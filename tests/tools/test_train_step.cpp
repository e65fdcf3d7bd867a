// The training step: it reports the batch's loss and correct count, applies one update at the
// given rate, measures ‖w‖, ‖∂L/∂w‖ and ‖Δw‖/‖w‖ only when asked, and stops on a non-finite loss.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "autograd/ops.h"
#include "core/error.h"
#include "core/random.h"
#include "core/tensor_math.h"
#include "layers/linear.h"
#include "layers/optim/sgd.h"
#include "tools/train_step.h"

using namespace normlab;

namespace {

Batch random_batch(std::uint64_t seed) {
  Rng rng(seed);
  Batch b;
  b.images = randn({6, 4}, DType::f32, rng);
  b.labels = Tensor::from_vector({6}, {0, 1, 2, 0, 1, 2}, DType::i64);
  return b;
}

double l2(const Tensor& t) {
  return std::sqrt(dot_all(t, t));
}

}  // namespace

TEST_CASE("count_correct takes the arg-max of each row and fills the confusion matrix",
          "[train_step]") {
  // rows predict 1, 0, 2, 2; labels are 1, 1, 2, 0
  const Tensor logits =
      Tensor::from_vector({4, 3}, {0.1, 0.9, 0.0, 2.0, 1.0, 0.5, -1.0, -2.0, 3.0, 0.0, 0.0, 0.1});
  const Tensor labels = Tensor::from_vector({4}, {1, 1, 2, 0}, DType::i64);
  std::vector<std::vector<std::int64_t>> confusion(3, std::vector<std::int64_t>(3, 0));
  REQUIRE(count_correct(logits, labels, &confusion) == 2);
  REQUIRE(confusion == std::vector<std::vector<std::int64_t>>{{0, 0, 1}, {1, 1, 0}, {0, 0, 1}});
}

TEST_CASE("train_step reports the batch's loss and applies one update at its lr", "[train_step]") {
  Rng rng(3);
  Linear model(4, 3, rng);
  SGD sgd(param_groups(model.named_parameters()), {.lr = 1.0});
  const Batch b = random_batch(11);
  const double loss_before =
      cross_entropy(Variable(model.forward_no_grad(b.images)), b.labels).data().item();
  const std::int64_t correct_before = count_correct(model.forward_no_grad(b.images), b.labels);
  const Tensor w0 = model.weight().data().clone();

  const StepResult r = train_step(model, sgd, b, 0.25, false);
  REQUIRE(r.loss == Approx(loss_before).epsilon(1e-6));
  REQUIRE(r.correct == correct_before);
  REQUIRE(r.images == 6);
  REQUIRE(r.params.empty());
  REQUIRE(sgd.lr() == 0.25);
  // plain SGD: w ← w − lr · ∂L/∂w
  Tensor expected = w0.clone();
  add_(expected, model.weight().grad(), -0.25);
  REQUIRE(max_abs_diff(model.weight().data(), expected) < 1e-6);
  const double loss_after =
      cross_entropy(Variable(model.forward_no_grad(b.images)), b.labels).data().item();
  REQUIRE(loss_after < loss_before);
}

TEST_CASE("train_step measures every parameter on a measuring step", "[train_step]") {
  Rng rng(5);
  Linear model(4, 3, rng);
  SGD sgd(param_groups(model.named_parameters()), {.lr = 1.0});
  const Tensor w0 = model.weight().data().clone();
  const StepResult r = train_step(model, sgd, random_batch(12), 0.5, true);
  REQUIRE(r.params.size() == 2);
  const ParamStats& w = r.params[0].name == "weight" ? r.params[0] : r.params[1];
  REQUIRE(w.name == "weight");
  const double g = l2(model.weight().grad());
  REQUIRE(w.weight_norm == Approx(l2(w0)).epsilon(1e-6));
  REQUIRE(w.grad_norm == Approx(g).epsilon(1e-6));
  REQUIRE(w.update_ratio == Approx(0.5 * g / l2(w0)).epsilon(1e-5));  // ‖Δw‖ = lr · ‖g‖
}

TEST_CASE("train_step does not apply the update of a non-finite loss", "[train_step][errors]") {
  Rng rng(7);
  Linear model(4, 3, rng);
  SGD sgd(param_groups(model.named_parameters()), {.lr = 0.1});
  const Tensor w0 = model.weight().data().clone();
  Batch b = random_batch(13);
  b.images.set({0, 0}, std::numeric_limits<double>::quiet_NaN());
  const StepResult r = train_step(model, sgd, b, 0.1, false);
  REQUIRE(std::isnan(r.loss));
  REQUIRE(max_abs_diff(model.weight().data(), w0) == 0.0);  // the weights of the last good step
}

TEST_CASE("EpochTally weights each step's loss by its images", "[train_step]") {
  EpochTally t;
  REQUIRE(t.mean_loss() == 0.0);
  REQUIRE(t.accuracy() == 0.0);
  t.add({.loss = 1.0, .correct = 3, .images = 4});
  t.add({.loss = 4.0, .correct = 0, .images = 2});
  REQUIRE(t.mean_loss() == Approx(2.0));  // (1·4 + 4·2) / 6
  REQUIRE(t.accuracy() == Approx(0.5));
}
