// Data-parallel training (tools/data_parallel.h) on ranks that are threads of this process: a
// Communicator over shared memory stands for MPI, so the sharding, the gradient average, the
// buffer average and the split evaluation are checked in float64, where the only difference from
// the single process is the order of additions. The same code over Open MPI is checked by
// tests/dist/ under mpirun.
#include <algorithm>
#include <barrier>
#include <catch2/catch.hpp>
#include <thread>

#include "autograd/ops.h"
#include "core/communicator.h"
#include "core/error.h"
#include "core/random.h"
#include "core/tensor_math.h"
#include "layers/norm/norm_kind.h"
#include "layers/optim/sgd.h"
#include "models/model.h"
#include "tools/data_parallel.h"
#include "tools/train_step.h"

using namespace normlab;

namespace {

// K threads that meet at a barrier: each collective publishes every rank's part, waits, and each
// rank combines the parts in rank order (so every rank gets the same bits), then waits again.
struct ThreadGroup {
  explicit ThreadGroup(int K) : size(K), sync(K), parts(static_cast<std::size_t>(K)) {}
  int size;
  std::barrier<> sync;
  std::vector<std::vector<double>> parts;
  std::vector<std::byte> bytes;
};

class ThreadCommunicator final : public Communicator {
 public:
  ThreadCommunicator(ThreadGroup& group, int rank) : group_(group), rank_(rank) {}
  int rank() const noexcept override { return rank_; }
  int size() const noexcept override { return group_.size; }
  void all_reduce_sum(std::span<float> data) override { reduce(data); }
  void all_reduce_sum(std::span<double> data) override { reduce(data); }
  void all_gather(std::span<const double> in, std::span<double> out) override {
    mine().assign(in.begin(), in.end());
    group_.sync.arrive_and_wait();
    for (std::size_t r = 0; r < group_.parts.size(); ++r) {
      std::ranges::copy(group_.parts[r], out.begin() + static_cast<std::ptrdiff_t>(r * in.size()));
    }
    group_.sync.arrive_and_wait();
  }
  void broadcast(std::span<std::byte> data, int root) override {
    if (rank_ == root) {
      group_.bytes.assign(data.begin(), data.end());
    }
    group_.sync.arrive_and_wait();
    std::ranges::copy(group_.bytes, data.begin());
    group_.sync.arrive_and_wait();
  }
  void barrier() override { group_.sync.arrive_and_wait(); }

 private:
  std::vector<double>& mine() { return group_.parts[static_cast<std::size_t>(rank_)]; }
  template <class T>
  void reduce(std::span<T> data) {
    mine().assign(data.begin(), data.end());
    group_.sync.arrive_and_wait();
    for (std::size_t i = 0; i < data.size(); ++i) {
      T s = 0;
      for (const auto& part : group_.parts) {
        s += static_cast<T>(part[i]);
      }
      data[i] = s;
    }
    group_.sync.arrive_and_wait();
  }

  ThreadGroup& group_;
  int rank_;
};

// Runs body(comm) on K threads, one rank each, and waits for all.
template <class F>
void on_ranks(int K, F body) {
  ThreadGroup group(K);
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(K));
  for (int r = 0; r < K; ++r) {
    threads.emplace_back([&group, &body, r] {
      ThreadCommunicator comm(group, r);
      body(comm);
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
}

constexpr std::int64_t kBatch = 8, kSteps = 4;
constexpr double kLr = 0.1;

std::unique_ptr<Module> tiny_model(NormKind norm, Communicator* comm, DType dtype = DType::f64,
                                   std::uint64_t seed = 3) {
  ModelOptions o;
  o.norm = norm;
  o.norm_options.dtype = dtype;
  o.norm_options.num_groups = 2;
  o.norm_options.comm = comm;
  o.image_size = 8;
  o.num_classes = 3;
  o.width = 0.25;
  Rng rng(seed);
  return make_model(ModelKind::tiny, o, rng);
}

SGD sgd(Module& model) {
  return SGD(param_groups(model.named_parameters()), {.lr = kLr, .momentum = 0.9});
}

Batch global_batch(std::int64_t step) {
  Rng rng(100 + static_cast<std::uint64_t>(step));
  Batch b;
  b.images = randn({kBatch, 1, 8, 8}, DType::f64, rng, 0.3, 1.5);
  std::vector<double> labels;
  for (std::int64_t i = 0; i < kBatch; ++i) {
    labels.push_back(static_cast<double>((i * 7 + step) % 3));
  }
  b.labels = Tensor::from_vector({kBatch}, labels, DType::i64);
  b.indices.resize(kBatch);
  return b;
}

// kSteps data-parallel steps on K thread ranks; the state of every rank at the end. Rank r builds
// its model from seed 3 + r, so only the broadcast of rank 0's state makes them start equal (and
// equal to the single process's, seed 3). (Catch2's assertions are not thread-safe: the threads
// only record, the test thread checks.)
std::vector<StateDict> train_parallel(NormKind norm, int K) {
  std::vector<StateDict> states(static_cast<std::size_t>(K));
  std::vector<std::int64_t> images(static_cast<std::size_t>(K));
  on_ranks(K, [&](Communicator& comm) {
    auto model = tiny_model(norm, &comm, DType::f64, 3 + static_cast<std::uint64_t>(comm.rank()));
    SGD opt = sgd(*model);
    DataParallel dp(comm, opt.params());
    dp.broadcast_from_rank0(*model);
    model->train();
    for (std::int64_t s = 0; s < kSteps; ++s) {
      const StepResult r =
          train_step(*model, opt, dp.shard(global_batch(s)), kLr, false, nullptr, &dp);
      images[static_cast<std::size_t>(comm.rank())] = r.images;
    }
    states[static_cast<std::size_t>(comm.rank())] = model->state_dict();
  });
  for (const std::int64_t n : images) {
    REQUIRE(n == kBatch);  // the step's counts are the global batch's
  }
  return states;
}

StateDict train_single(NormKind norm) {
  auto model = tiny_model(norm, nullptr);
  SGD opt = sgd(*model);
  model->train();
  for (std::int64_t s = 0; s < kSteps; ++s) {
    train_step(*model, opt, global_batch(s), kLr, false);
  }
  return model->state_dict();
}

// What per-worker BatchNorm on two ranks computes, in one process: each half of the batch goes
// through the model by itself (so BatchNorm normalizes it alone), the loss is the mean of the two
// halves' losses, then one update.
StateDict train_halves(NormKind norm) {
  auto model = tiny_model(norm, nullptr);
  SGD opt = sgd(*model);
  model->train();
  for (std::int64_t s = 0; s < kSteps; ++s) {
    const Batch b = global_batch(s);
    opt.zero_grad();
    for (std::int64_t h = 0; h < 2; ++h) {
      const Tensor x = b.images.narrow(0, h * kBatch / 2, kBatch / 2).contiguous();
      const Tensor y = b.labels.narrow(0, h * kBatch / 2, kBatch / 2).contiguous();
      mul_scalar(cross_entropy(model->forward(Variable(x)), y), 0.5).backward();
    }
    opt.step();
  }
  return model->state_dict();
}

// max |a − b| / max(1, max |b|) over the tensors whose names pass `keep`.
template <class Keep>
double worst(const StateDict& a, const StateDict& b, Keep keep) {
  double w = 0;
  for (const auto& [name, t] : b) {
    if (keep(name) && t.dtype() == DType::f64) {
      w = std::max(w, max_abs_diff(a.at(name), t) / std::max(1.0, max_abs(t)));
    }
  }
  return w;
}

bool any_name(const std::string&) {
  return true;
}
bool parameter_name(const std::string& name) {
  return !name.ends_with("running_mean") && !name.ends_with("running_var");
}

}  // namespace

TEST_CASE("data-parallel GroupNorm and SyncBatchNorm train as the single process",
          "[data_parallel]") {
  const auto [parallel_norm, single_norm] = GENERATE(table<NormKind, NormKind>({
      {NormKind::group, NormKind::group},
      {NormKind::sync_batch, NormKind::batch},  // running statistics included
  }));
  CAPTURE(norm_kind_name(parallel_norm));
  const std::vector<StateDict> ranks = train_parallel(parallel_norm, 2);
  const StateDict single = train_single(single_norm);
  REQUIRE(worst(ranks[1], ranks[0], any_name) == 0.0);  // the ranks agree bit for bit
  REQUIRE(worst(ranks[0], single, any_name) < 1e-12);   // float64: the order of additions only
  REQUIRE(worst(ranks[0], train_single(NormKind::layer), any_name) > 1e-3);  // the test can fail
}

TEST_CASE("data-parallel per-worker BatchNorm is the single process normalizing each half",
          "[data_parallel]") {
  const std::vector<StateDict> ranks = train_parallel(NormKind::batch, 2);
  REQUIRE(worst(ranks[0], train_halves(NormKind::batch), parameter_name) < 1e-12);
  REQUIRE(worst(ranks[0], train_single(NormKind::batch), parameter_name) > 1e-6);
  // Each rank's running statistics saw only its own shard.
  REQUIRE(worst(ranks[1], ranks[0], [](const std::string& n) { return !parameter_name(n); }) >
          1e-6);
}

TEST_CASE("average_buffers leaves every rank with the mean of the running statistics",
          "[data_parallel]") {
  std::vector<StateDict> before(2), after(2);
  on_ranks(2, [&](Communicator& comm) {
    auto model = tiny_model(NormKind::batch, &comm);
    SGD opt = sgd(*model);
    DataParallel dp(comm, opt.params());
    model->train();
    train_step(*model, opt, dp.shard(global_batch(0)), kLr, false, nullptr, &dp);
    before[static_cast<std::size_t>(comm.rank())] = model->state_dict();
    for (auto& [name, t] : before[static_cast<std::size_t>(comm.rank())]) {
      t = t.clone();
    }
    dp.average_buffers(*model);
    after[static_cast<std::size_t>(comm.rank())] = model->state_dict();
  });
  for (const auto& [name, t] : after[0]) {
    CAPTURE(name);
    REQUIRE(max_abs_diff(after[1].at(name), t) == 0.0);
    if (!parameter_name(name)) {
      Tensor mean = before[0].at(name).clone();
      add_(mean, before[1].at(name), 1.0);
      scale_(mean, 0.5);
      REQUIRE(max_abs_diff(t, mean) < 1e-15);
    }
  }
}

TEST_CASE("data-parallel evaluation splits the test set and reduces it", "[data_parallel]") {
  Rng rng(9);
  Dataset d = make_dataset("test", 13, 1, 8, 8, {"a", "b", "c"});  // 13: the shares differ
  const Tensor pixels = rand_uniform({13, 1, 8, 8}, DType::f64, rng, 0.0, 255.0);
  std::ranges::transform(pixels.data<double>(), d.images.data<std::uint8_t>().begin(),
                         [](double v) { return static_cast<std::uint8_t>(v); });
  for (std::int64_t i = 0; i < 13; ++i) {
    d.labels.set({i}, static_cast<double>(i % 3));
  }
  const ChannelStats stats{{0.5}, {0.25}};
  auto model = tiny_model(NormKind::group, nullptr, DType::f32);  // the loader's images are f32
  const EvalResult single = evaluate(*model, d, stats, 4);
  std::vector<EvalResult> ranks(2);
  on_ranks(2, [&](Communicator& comm) {
    auto m = tiny_model(NormKind::group, nullptr, DType::f32);
    SGD opt = sgd(*m);
    DataParallel dp(comm, opt.params());
    ranks[static_cast<std::size_t>(comm.rank())] = dp.evaluate(*m, d, stats, 4);
  });
  for (const EvalResult& r : ranks) {
    REQUIRE(r.confusion == single.confusion);
    REQUIRE(r.accuracy == single.accuracy);
    // float32 losses, batched differently (4 + 4 + 4 + 1 against 4 + 2 and 4 + 3)
    REQUIRE(r.loss == Approx(single.loss).epsilon(1e-6));
  }
}

TEST_CASE("data-parallel training needs a batch the ranks share equally", "[data_parallel]") {
  auto model = tiny_model(NormKind::group, nullptr);
  SGD opt = sgd(*model);
  std::int64_t share = 0;
  std::string error;
  on_ranks(2, [&](Communicator& comm) {
    DataParallel dp(comm, opt.params());
    if (comm.rank() == 0) {
      share = dp.shard_size(64);
      try {
        dp.shard_size(63);
      } catch (const ValueError& e) {
        error = e.what();
      }
    }
  });
  REQUIRE(share == 32);
  REQUIRE_THAT(error, Catch::Contains("--batch-size 63") && Catch::Contains("2 ranks") &&
                          Catch::Contains("multiple of 2"));
}
