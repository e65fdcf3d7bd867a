// tools/bench_stats.h: the two helpers every benchmark of `normlab bench` shares.
#pragma once

#include <algorithm>
#include <chrono>
#include <vector>

namespace normlab {

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n == 0 ? 0.0 : n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Wall seconds per call of f, over `calls` calls in a row.
template <class F>
double seconds_per_call(int calls, F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < calls; ++i) {
    f();
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / calls;
}

}  // namespace normlab
