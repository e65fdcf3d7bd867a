#include "core/rng.h"

#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <numbers>
#include <sstream>

#include "core/error.h"

namespace normlab {

namespace {
std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
}  // namespace

Rng::Rng(std::uint64_t seed) {
  for (auto& word : s_) {
    word = splitmix64(seed);
  }
}

std::uint64_t Rng::next_u64() {
  const std::uint64_t result = std::rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = std::rotl(s_[3], 45);
  return result;
}

double Rng::uniform() {
  return static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
}

double Rng::uniform(double lo, double hi) {
  return lo + (hi - lo) * uniform();
}

double Rng::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u1 = uniform();
  while (u1 <= 0.0) {
    u1 = uniform();
  }
  const double u2 = uniform();
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double theta = 2.0 * std::numbers::pi * u2;
  spare_ = r * std::sin(theta);
  has_spare_ = true;
  return r * std::cos(theta);
}

std::int64_t Rng::randint(std::int64_t n) {
  if (n <= 0) {
    throw ValueError(fmt::format("rng: randint needs n > 0, got {}", n));
  }
  const auto un = static_cast<std::uint64_t>(n);
  const std::uint64_t limit = UINT64_MAX - UINT64_MAX % un;  // reject the biased tail
  std::uint64_t r = next_u64();
  while (r >= limit) {
    r = next_u64();
  }
  return static_cast<std::int64_t>(r % un);
}

bool Rng::bernoulli(double p) {
  return uniform() < p;
}

std::string Rng::state() const {
  return fmt::format("{} {} {} {} {} {}", s_[0], s_[1], s_[2], s_[3], has_spare_ ? 1 : 0,
                     std::bit_cast<std::uint64_t>(spare_));
}

void Rng::set_state(const std::string& state) {
  std::istringstream is(state);
  std::array<std::uint64_t, 4> s{};
  int spare_flag = 0;
  std::uint64_t spare_bits = 0;
  is >> s[0] >> s[1] >> s[2] >> s[3] >> spare_flag >> spare_bits;
  if (!is || (spare_flag != 0 && spare_flag != 1)) {
    throw ValueError(fmt::format("rng: malformed state string '{}'", state));
  }
  s_ = s;
  has_spare_ = spare_flag == 1;
  spare_ = std::bit_cast<double>(spare_bits);
}

}  // namespace normlab
