// Augmentation and normalization: hand-computed crops and flips, a brute-force check of every
// crop offset, reproducible draws, and channel statistics against a direct two-pass sum.
#include <catch2/catch.hpp>
#include <cmath>
#include <set>
#include <string>

#include "core/error.h"
#include "datasets/transforms.h"

using namespace normlab;
using Catch::Matchers::Contains;

namespace {
using Bytes = std::vector<std::uint8_t>;

Bytes crop(const Bytes& src, std::int64_t C, std::int64_t H, std::int64_t W, std::int64_t pad,
           std::int64_t dy, std::int64_t dx) {
  Bytes out(src.size(), 77);
  crop_with_padding(src.data(), C, H, W, pad, dy, dx, out.data());
  return out;
}
}  // namespace

TEST_CASE("crop with zero padding, by hand", "[transforms]") {
  const Bytes x = {1, 2, 3, 4, 5, 6, 7, 8, 9};  // one 3×3 channel
  CHECK(crop(x, 1, 3, 3, 1, 0, 0) == Bytes{0, 0, 0, 0, 1, 2, 0, 4, 5});
  CHECK(crop(x, 1, 3, 3, 1, 1, 1) == x);
  CHECK(crop(x, 1, 3, 3, 1, 2, 2) == Bytes{5, 6, 0, 8, 9, 0, 0, 0, 0});
  CHECK(crop(x, 1, 3, 3, 1, 0, 2) == Bytes{0, 0, 0, 2, 3, 0, 5, 6, 0});
  CHECK(crop(x, 1, 3, 3, 4, 0, 0) == Bytes(9, 0));  // padding larger than the image
}

TEST_CASE("crop matches padding then slicing, for every offset", "[transforms]") {
  const std::int64_t C = 2, H = 5, W = 4, pad = 3;
  Rng rng(3);
  Bytes x(static_cast<std::size_t>(C * H * W));
  for (auto& v : x) {
    v = static_cast<std::uint8_t>(1 + rng.randint(255));
  }
  // Reference: the zero-padded image (C, H + 2p, W + 2p), then the H × W window at (dy, dx).
  const std::int64_t PH = H + 2 * pad, PW = W + 2 * pad;
  Bytes padded(static_cast<std::size_t>(C * PH * PW), 0);
  for (std::int64_t c = 0; c < C; ++c) {
    for (std::int64_t y = 0; y < H; ++y) {
      for (std::int64_t i = 0; i < W; ++i) {
        padded[static_cast<std::size_t>((c * PH + y + pad) * PW + i + pad)] =
            x[static_cast<std::size_t>((c * H + y) * W + i)];
      }
    }
  }
  for (std::int64_t dy = 0; dy <= 2 * pad; ++dy) {
    for (std::int64_t dx = 0; dx <= 2 * pad; ++dx) {
      Bytes want;
      for (std::int64_t c = 0; c < C; ++c) {
        for (std::int64_t y = 0; y < H; ++y) {
          for (std::int64_t i = 0; i < W; ++i) {
            want.push_back(padded[static_cast<std::size_t>((c * PH + y + dy) * PW + i + dx)]);
          }
        }
      }
      CAPTURE(dy, dx);
      REQUIRE(crop(x, C, H, W, pad, dy, dx) == want);
    }
  }
}

TEST_CASE("horizontal flip mirrors each row of each channel", "[transforms]") {
  Bytes x = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};  // (2, 2, 3)
  flip_horizontal(x.data(), 2, 2, 3);
  CHECK(x == Bytes{3, 2, 1, 6, 5, 4, 9, 8, 7, 12, 11, 10});
}

TEST_CASE("augmentation is reproducible and covers its range", "[transforms]") {
  const std::int64_t C = 1, H = 4, W = 4;
  Bytes x(16);
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = static_cast<std::uint8_t>(i + 1);
  }
  const AugmentOptions opt{.crop_padding = 2, .horizontal_flip = true};
  std::set<std::string> seen;  // not set<Bytes>: g++ 12 -O3 warns (-Wstringop-overread) in its <=>
  int flipped = 0;
  for (std::uint64_t k = 0; k < 400; ++k) {
    Bytes a(16);
    Bytes b(16);
    Rng r1(derive_seed(9, 1, k));
    Rng r2(derive_seed(9, 1, k));
    augment_image(x.data(), C, H, W, opt, r1, a.data());
    augment_image(x.data(), C, H, W, opt, r2, b.data());
    REQUIRE(a == b);
    seen.emplace(a.begin(), a.end());
    // Replays the draws: crop offsets, then the coin.
    Rng r3(derive_seed(9, 1, k));
    const std::int64_t dy = r3.randint(5);
    const std::int64_t dx = r3.randint(5);
    Bytes want = crop(x, C, H, W, 2, dy, dx);
    if (r3.bernoulli(0.5)) {
      flip_horizontal(want.data(), C, H, W);
      ++flipped;
    }
    REQUIRE(a == want);
  }
  CHECK(seen.size() == 50);  // 5 × 5 offsets × 2 flips, all distinct for this image
  CHECK(flipped > 150);
  CHECK(flipped < 250);
  // No augmentation: a copy.
  Bytes c(16);
  Rng r(1);
  augment_image(x.data(), C, H, W, {}, r, c.data());
  CHECK(c == x);
}

TEST_CASE("derive_seed separates its streams", "[transforms]") {
  std::set<std::uint64_t> seeds;
  for (std::uint64_t s = 0; s < 3; ++s) {
    for (std::uint64_t a = 0; a < 10; ++a) {
      for (std::uint64_t b = 0; b < 10; ++b) {
        seeds.insert(derive_seed(s, a, b));
      }
    }
  }
  CHECK(seeds.size() == 300);
  CHECK(derive_seed(1, 2, 3) == derive_seed(1, 2, 3));
}

TEST_CASE("normalization table: (x/255 - mean)/std per channel", "[transforms]") {
  const ChannelStats st{{0.5, 0.0}, {0.25, 2.0}};
  const std::vector<float> t = normalize_table(st, 2);
  CHECK(t[255] == Approx(2.0));
  CHECK(t[0] == Approx(-2.0));
  CHECK(t[256 + 51] == Approx(0.1));
  const std::vector<float> plain = normalize_table({}, 3);
  CHECK(plain[2 * 256 + 255] == 1.0f);
  CHECK(plain[128] == Approx(128.0 / 255.0));
  const Bytes x = {0, 255, 51, 255};
  std::vector<float> y(4);
  normalize_image(x.data(), 2, 2, t, y.data());
  CHECK(y[0] == Approx(-2.0));
  CHECK(y[1] == Approx(2.0));
  CHECK(y[2] == Approx(0.1));
  CHECK(y[3] == Approx(0.5));
  REQUIRE_THROWS_WITH(normalize_table(st, 3), Contains("2 means and 2 stds for 3 channels"));
  REQUIRE_THROWS_WITH(normalize_table({{0.5}, {0.0}}, 1), Contains("std must be a positive"));
}

TEST_CASE("channel statistics equal a direct two-pass computation", "[transforms]") {
  Dataset d = make_dataset("s", 5, 3, 4, 6, {"a"});
  Rng rng(11);
  for (auto& v : d.images.data<std::uint8_t>()) {
    v = static_cast<std::uint8_t>(rng.randint(256));
  }
  d.labels.fill_(0);
  const ChannelStats st = channel_stats(d);
  REQUIRE(st.mean.size() == 3);
  for (std::int64_t c = 0; c < 3; ++c) {
    double sum = 0.0;
    for (std::int64_t n = 0; n < 5; ++n) {
      for (std::int64_t i = 0; i < 24; ++i) {
        sum += d.image(n)[c * 24 + i] / 255.0;
      }
    }
    const double mean = sum / 120.0;
    double sq = 0.0;
    for (std::int64_t n = 0; n < 5; ++n) {
      for (std::int64_t i = 0; i < 24; ++i) {
        sq += std::pow(d.image(n)[c * 24 + i] / 255.0 - mean, 2);
      }
    }
    CHECK(st.mean[static_cast<std::size_t>(c)] == Approx(mean).epsilon(1e-12));
    CHECK(st.std[static_cast<std::size_t>(c)] == Approx(std::sqrt(sq / 120.0)).epsilon(1e-12));
  }
  Dataset empty = make_dataset("e", 0, 1, 2, 2, {"a"});
  REQUIRE_THROWS_WITH(channel_stats(empty), Contains("has no pixels"));
}
