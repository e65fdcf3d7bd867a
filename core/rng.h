// core/rng.h: an explicit, seedable random number generator (xoshiro256**, seeded by splitmix64).
// There is no global seed: whoever needs randomness is handed an Rng&. The full state can be saved
// and restored, so a resumed training run draws the same numbers as an uninterrupted one.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace normlab {

class Rng {
 public:
  explicit Rng(std::uint64_t seed);

  std::uint64_t next_u64();
  double uniform();                      // [0, 1), 53 random bits
  double uniform(double lo, double hi);  // [lo, hi)
  double normal();                       // standard normal (Box-Muller; the pair's twin is kept)
  std::int64_t randint(std::int64_t n);  // uniform in [0, n), unbiased; n > 0
  bool bernoulli(double p);

  // Text form of the whole state ("s0 s1 s2 s3 has_spare spare_bits"), for checkpoints.
  std::string state() const;
  void set_state(const std::string& state);  // ValueError on a malformed string

 private:
  std::array<std::uint64_t, 4> s_{};
  bool has_spare_ = false;
  double spare_ = 0.0;
};

}  // namespace normlab
