// Rng: reproducible from a seed, state round-trips, moments of normal() are right.
#include <catch2/catch.hpp>
#include <cmath>

#include "core/error.h"
#include "core/random.h"
#include "core/rng.h"

using namespace normlab;

TEST_CASE("the same seed gives the same numbers; state round-trips", "[rng]") {
  Rng a(42);
  Rng b(42);
  for (int i = 0; i < 10; ++i) {
    REQUIRE(a.next_u64() == b.next_u64());
  }
  a.normal();  // leaves a spare normal in the state
  const std::string s = a.state();
  const double x = a.normal();
  const double y = a.uniform();
  Rng c(0);
  c.set_state(s);
  REQUIRE(c.normal() == x);
  REQUIRE(c.uniform() == y);
  REQUIRE_THROWS_AS(c.set_state("garbage"), ValueError);
}

TEST_CASE("randn has mean 0 and variance 1", "[rng]") {
  Rng rng(7);
  const Tensor t = randn({20000}, DType::f64, rng);
  double s = 0.0;
  double s2 = 0.0;
  for (const double v : t.data<double>()) {
    s += v;
    s2 += v * v;
  }
  const double mean = s / 20000.0;
  REQUIRE(std::abs(mean) < 0.03);
  REQUIRE(std::abs(s2 / 20000.0 - mean * mean - 1.0) < 0.05);
}

TEST_CASE("randint stays in range and rejects n <= 0", "[rng]") {
  Rng rng(1);
  for (int i = 0; i < 1000; ++i) {
    const auto r = rng.randint(7);
    REQUIRE(r >= 0);
    REQUIRE(r < 7);
  }
  REQUIRE_THROWS_AS(rng.randint(0), ValueError);
}
