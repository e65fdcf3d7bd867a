// layers/layer_util.h: small pieces the layer files share: a PyTorch-style int-or-pair size and
// the check the closed name tables (LayerKind, NormKind) make on their names at compile time.
// (Whether input i of a node needs a gradient: input_needs_grad, autograd/ops/op_util.h.)
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace normlab {

// A 2-D size given as one int (both axes) or a pair, like PyTorch's kernel_size=3 / (3, 5).
struct Size2d {
  std::int64_t h = 1, w = 1;
  constexpr Size2d(std::int64_t both) : h(both), w(both) {}  // NOLINT: implicit, as in PyTorch
  constexpr Size2d(std::int64_t vh, std::int64_t vw) : h(vh), w(vw) {}
  bool operator==(const Size2d&) const = default;
  // "3" when square, else "(3, 5)". fmt, not "(" + std::to_string(h) + ...: g++ 12 at -O3 reports
  // a -Wrestrict false positive inside std::string's operator+ (a known g++ 12 bug).
  std::string repr() const { return h == w ? fmt::format("{}", h) : fmt::format("({}, {})", h, w); }
};

namespace detail {

// True when every name is a snake_case word ([a-z0-9_], starting with a letter, not ending in '_')
// and no two are equal: what parsing a name from a config or the command line relies on.
constexpr bool distinct_snake_case(std::span<const std::string_view> names) {
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string_view n = names[i];
    const bool word = !n.empty() && n.front() >= 'a' && n.front() <= 'z' && n.back() != '_' &&
                      std::all_of(n.begin(), n.end(), [](char c) {
                        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
                      });
    if (!word || std::find(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(i), n) !=
                     names.begin() + static_cast<std::ptrdiff_t>(i)) {
      return false;
    }
  }
  return true;
}

}  // namespace detail
}  // namespace normlab
