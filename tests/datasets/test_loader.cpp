// DataLoader: batches are a pure function of (seed, epoch, batch), whatever the thread timing;
// every epoch is a permutation; drop_last; resuming mid-epoch; clean shutdown mid-epoch.
#include <algorithm>
#include <catch2/catch.hpp>
#include <numeric>

#include "core/error.h"
#include "core/tensor_math.h"
#include "datasets/loader.h"

using namespace normlab;
using Catch::Matchers::Contains;

namespace {

// n images (1, 2, 2) whose pixels are all 2·i (so i is readable back from x/255), labels i % 3.
Dataset toy(std::int64_t n) {
  Dataset d = make_dataset("toy train", n, 1, 2, 2, {"a", "b", "c"});
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t k = 0; k < 4; ++k) {
      d.images.data<std::uint8_t>()[static_cast<std::size_t>(4 * i + k)] =
          static_cast<std::uint8_t>(2 * i);
    }
    d.labels.data<std::int64_t>()[static_cast<std::size_t>(i)] = i % 3;
  }
  return d;
}

// A CIFAR-sized random dataset for augmentation and thread tests.
Dataset random_images(std::int64_t n, std::uint64_t seed) {
  Dataset d = make_dataset("random", n, 3, 8, 8, {"a", "b"});
  Rng rng(seed);
  for (auto& v : d.images.data<std::uint8_t>()) {
    v = static_cast<std::uint8_t>(rng.randint(256));
  }
  for (auto& y : d.labels.data<std::int64_t>()) {
    y = rng.randint(2);
  }
  return d;
}

std::vector<Batch> epoch_batches(DataLoader& loader, std::int64_t epoch, std::int64_t first = 0) {
  std::vector<Batch> out;
  loader.start_epoch(epoch, first);
  while (auto b = loader.next()) {
    out.push_back(std::move(*b));
  }
  return out;
}

bool same_batch(const Batch& a, const Batch& b) {
  return a.indices == b.indices && a.epoch == b.epoch && a.index == b.index &&
         a.images.shape() == b.images.shape() && max_abs_diff(a.images, b.images) == 0.0 &&
         max_abs_diff(a.labels, b.labels) == 0.0;
}

}  // namespace

TEST_CASE("loader batches: shapes, dtypes, labels and pixels of the chosen images", "[loader]") {
  DataLoader loader(toy(10), {.batch_size = 4, .seed = 5});
  REQUIRE(loader.batches_per_epoch() == 3);
  const std::vector<Batch> bs = epoch_batches(loader, 0);
  REQUIRE(bs.size() == 3);
  CHECK(bs[0].images.shape() == Shape{4, 1, 2, 2});
  CHECK(bs[0].images.dtype() == DType::f32);
  CHECK(bs[0].labels.dtype() == DType::i64);
  CHECK(bs[2].images.shape() == Shape{2, 1, 2, 2});
  std::vector<std::int64_t> visited;
  for (const Batch& b : bs) {
    for (std::int64_t i = 0; i < b.labels.dim(0); ++i) {
      const std::int64_t k = b.indices[static_cast<std::size_t>(i)];
      visited.push_back(k);
      CHECK(b.labels.at<std::int64_t>({i}) == k % 3);
      CHECK(b.images.at<float>({i, 0, 1, 1}) == Approx(2.0 * k / 255.0));
    }
  }
  std::vector<std::int64_t> sorted = visited;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::int64_t> all(10);
  std::iota(all.begin(), all.end(), 0);
  CHECK(sorted == all);   // a permutation
  CHECK(visited != all);  // and shuffled
}

TEST_CASE("drop_last drops the short batch; shuffle=false keeps the order", "[loader]") {
  DataLoader loader(toy(10), {.batch_size = 4, .shuffle = false, .drop_last = true});
  REQUIRE(loader.batches_per_epoch() == 2);
  const std::vector<Batch> bs = epoch_batches(loader, 3);
  REQUIRE(bs.size() == 2);
  CHECK(bs[0].indices == std::vector<std::int64_t>{0, 1, 2, 3});
  CHECK(bs[1].indices == std::vector<std::int64_t>{4, 5, 6, 7});
  CHECK(bs[1].images.dim(0) == 4);
  DataLoader tiny(toy(3), {.batch_size = 4, .drop_last = true});
  CHECK(tiny.batches_per_epoch() == 0);
  tiny.start_epoch(0);
  CHECK_FALSE(tiny.next().has_value());
}

TEST_CASE("same seed, same batches: with and without the background thread", "[loader]") {
  const LoaderOptions opt{.batch_size = 7,
                          .seed = 42,
                          .augment = {.crop_padding = 2, .horizontal_flip = true},
                          .normalize = {{0.5, 0.4, 0.3}, {0.2, 0.25, 0.3}}};
  LoaderOptions serial = opt;
  serial.prefetch = false;
  DataLoader a(random_images(40, 1), opt);
  DataLoader b(random_images(40, 1), opt);
  DataLoader c(random_images(40, 1), serial);
  for (std::int64_t e = 0; e < 3; ++e) {
    const auto ba = epoch_batches(a, e);
    const auto bb = epoch_batches(b, e);
    const auto bc = epoch_batches(c, e);
    REQUIRE(ba.size() == 6);
    for (std::size_t i = 0; i < ba.size(); ++i) {
      CAPTURE(e, i);
      REQUIRE(same_batch(ba[i], bb[i]));
      REQUIRE(same_batch(ba[i], bc[i]));
      REQUIRE(same_batch(ba[i], a.make_batch(e, static_cast<std::int64_t>(i))));
    }
  }
  // A new epoch reshuffles; another seed gives another order.
  CHECK(a.epoch_order(0) != a.epoch_order(1));
  DataLoader d(random_images(40, 1), {.batch_size = 7, .seed = 43});
  CHECK(d.epoch_order(0) != a.epoch_order(0));
}

TEST_CASE("augmentation changes images, reproducibly per (seed, epoch, position)", "[loader]") {
  const Dataset data = random_images(16, 2);
  DataLoader plain(data, {.batch_size = 16, .shuffle = false, .seed = 1});
  DataLoader aug(data, {.batch_size = 16,
                        .shuffle = false,
                        .seed = 1,
                        .augment = {.crop_padding = 3, .horizontal_flip = true}});
  const Batch p = plain.make_batch(0, 0);
  const Batch a0 = aug.make_batch(0, 0);
  const Batch a1 = aug.make_batch(1, 0);
  CHECK(max_abs_diff(p.images, a0.images) > 0.0);
  CHECK(max_abs_diff(a0.images, a1.images) > 0.0);  // epochs draw new augmentations
  CHECK(max_abs_diff(a0.images, aug.make_batch(0, 0).images) == 0.0);
  CHECK(max_abs_diff(p.labels, a0.labels) == 0.0);
  // Image i of epoch 0 equals augment_image with Rng(derive_seed(seed, 0, i)).
  std::vector<std::uint8_t> out(std::size_t{3} * 8 * 8);
  for (std::int64_t i = 0; i < 16; ++i) {
    Rng rng(derive_seed(1, 0, static_cast<std::uint64_t>(i)));
    augment_image(data.image(i), 3, 8, 8, aug.options().augment, rng, out.data());
    for (std::int64_t k = 0; k < std::int64_t{3} * 64; ++k) {
      REQUIRE(a0.images.data<float>()[static_cast<std::size_t>(i * 192 + k)] ==
              static_cast<float>(out[static_cast<std::size_t>(k)] / 255.0));
    }
  }
}

TEST_CASE("resuming at epoch e, batch b yields the rest of that epoch", "[loader]") {
  const LoaderOptions opt{.batch_size = 6, .seed = 9, .augment = {.crop_padding = 1}};
  DataLoader full(random_images(50, 3), opt);
  const auto all = epoch_batches(full, 4);
  DataLoader resumed(random_images(50, 3), opt);
  const auto rest = epoch_batches(resumed, 4, 5);
  REQUIRE(rest.size() == all.size() - 5);
  for (std::size_t i = 0; i < rest.size(); ++i) {
    REQUIRE(same_batch(rest[i], all[i + 5]));
  }
  // Restarting mid-epoch drops the batches prepared for the old position.
  resumed.start_epoch(2);
  REQUIRE(resumed.next().has_value());
  resumed.start_epoch(4, 1);
  const auto again = resumed.next();
  REQUIRE(again.has_value());
  CHECK(same_batch(*again, all[1]));
  // Starting at the end is allowed and yields nothing.
  resumed.start_epoch(4, resumed.batches_per_epoch());
  CHECK_FALSE(resumed.next().has_value());
}

TEST_CASE("the loader shuts down cleanly mid-epoch", "[loader]") {
  const Dataset data = random_images(500, 4);
  for (int trial = 0; trial < 20; ++trial) {
    DataLoader loader(data, {.batch_size = 8,
                             .seed = static_cast<std::uint64_t>(trial),
                             .augment = {.crop_padding = 2, .horizontal_flip = true}});
    loader.start_epoch(0);
    for (int k = 0; k < trial % 4; ++k) {
      REQUIRE(loader.next().has_value());
    }
  }  // destroyed while the worker prepares batches
  DataLoader never_started(data, {});
  SUCCEED("no hang, no crash");
}

TEST_CASE("loader errors", "[loader][errors]") {
  REQUIRE_THROWS_WITH(DataLoader(toy(4), {.batch_size = 0}), Contains("batch size must be >= 1"));
  REQUIRE_THROWS_WITH(DataLoader(toy(4), {.augment = {.crop_padding = -1}}),
                      Contains("crop padding must be >= 0"));
  REQUIRE_THROWS_WITH(DataLoader(toy(4), {.normalize = {{0.5, 0.5}, {1.0, 1.0}}}),
                      Contains("2 means and 2 stds for 1 channels"));
  Dataset bad = toy(4);
  bad.labels.data<std::int64_t>()[2] = 3;
  REQUIRE_THROWS_WITH(DataLoader(bad, {}), Contains("image 2 has label 3 but there are 3 classes"));
  DataLoader loader(toy(4), {.batch_size = 2});
  REQUIRE_THROWS_WITH(loader.next(), Contains("next() before start_epoch()"));
  REQUIRE_THROWS_AS(loader.start_epoch(0, 3), ValueError);
  REQUIRE_THROWS_AS(loader.start_epoch(-1), ValueError);
  REQUIRE_THROWS_AS(loader.make_batch(0, 2), ValueError);
}
