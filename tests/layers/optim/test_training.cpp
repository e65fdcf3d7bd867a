// End to end: a two-conv network trains on a seeded synthetic problem with SGD momentum, weight
// decay on conv/linear weights only, and a warm-up schedule; its loss falls steadily.
#include <catch2/catch.hpp>
#include <numeric>

#include "autograd/ops.h"
#include "core/rng.h"
#include "layers/activation.h"
#include "layers/conv2d.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/optim/schedule.h"
#include "layers/optim/sgd.h"
#include "layers/pooling.h"
#include "layers/sequential.h"

using namespace normlab;

namespace {

// N noisy 1×8×8 images: class 0 has a bright horizontal bar, class 1 a vertical one, at a random
// row or column. Only the orientation separates the classes, so the convolutions must learn it.
struct Batch {
  Tensor x;       // (N, 1, 8, 8) f32
  Tensor labels;  // (N) i64
};

Batch make_bars(std::int64_t N, Rng& rng) {
  Batch b{Tensor::zeros({N, 1, 8, 8}), Tensor::zeros({N}, DType::i64)};
  for (std::int64_t n = 0; n < N; ++n) {
    const std::int64_t label = n % 2;
    const std::int64_t at = 1 + rng.randint(6);
    for (std::int64_t i = 0; i < 8; ++i) {
      for (std::int64_t j = 0; j < 8; ++j) {
        const bool on = label == 0 ? i == at : j == at;
        b.x.set({n, 0, i, j}, (on ? 2.0 : 0.0) + 0.2 * rng.normal());
      }
    }
    b.labels.set({n}, static_cast<double>(label));
  }
  return b;
}

double window_mean(const std::vector<double>& v, std::size_t begin, std::size_t length) {
  return std::accumulate(v.begin() + static_cast<std::ptrdiff_t>(begin),
                         v.begin() + static_cast<std::ptrdiff_t>(begin + length), 0.0) /
         static_cast<double>(length);
}

}  // namespace

TEST_CASE("two-conv network trains on synthetic data and its loss falls steadily",
          "[training][sgd]") {
  Rng rng(20240601);
  Sequential net;
  net.emplace<Conv2d>(1, 8, 3, rng, Conv2dOptions{.padding = 1});
  net.emplace<ReLU>();
  net.emplace<Conv2d>(8, 8, 3, rng, Conv2dOptions{.padding = 1});
  net.emplace<ReLU>();
  net.emplace<GlobalAvgPool2d>();
  net.emplace<Flatten>();
  net.emplace<Linear>(8, 2, rng);

  SGD opt(param_groups(net.named_parameters(), is_one_dim),
          {.lr = 0.2, .momentum = 0.9, .weight_decay = 5e-4});
  const WarmupLr schedule(std::make_unique<ConstantLr>(0.2), 3, 0.3);
  const Batch data = make_bars(32, rng);
  std::vector<double> losses;
  for (std::int64_t step = 0; step < 30; ++step) {
    opt.set_lr(schedule.lr_at(step));
    opt.zero_grad();
    const Variable loss = cross_entropy(net.forward(Variable(data.x)), data.labels);
    loss.backward();
    opt.step();
    losses.push_back(loss.data().item());
  }
  CAPTURE(losses);
  // Six windows of five steps: each mean below the one before, the last below half the first loss.
  for (std::size_t w = 1; w < 6; ++w) {
    CAPTURE(w);
    CHECK(window_mean(losses, 5 * w, 5) < window_mean(losses, 5 * (w - 1), 5));
  }
  REQUIRE(window_mean(losses, 25, 5) < 0.5 * losses[0]);
}
