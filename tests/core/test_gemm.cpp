// gemm: every transpose combination against a naive triple loop, in float and double.
#include <catch2/catch.hpp>

#include "core/gemm.h"
#include "core/random.h"

using namespace normlab;

template <class T>
void check_gemm(bool ta, bool tb) {
  const std::int64_t M = 5;
  const std::int64_t N = 7;
  const std::int64_t K = 3;
  Rng rng(3);
  const DType dt = dtype_of<T>();
  const Tensor A = randn(ta ? Shape{K, M} : Shape{M, K}, dt, rng);
  const Tensor B = randn(tb ? Shape{N, K} : Shape{K, N}, dt, rng);
  Tensor C = randn({M, N}, dt, rng);
  const Tensor C0 = C.clone();
  gemm<T>(ta, tb, M, N, K, T(2), A.data<T>().data(), ta ? M : K, B.data<T>().data(), tb ? K : N,
          T(0.5), C.data<T>().data(), N);
  for (std::int64_t i = 0; i < M; ++i) {
    for (std::int64_t j = 0; j < N; ++j) {
      double want = 0.5 * C0.get({i, j});
      for (std::int64_t k = 0; k < K; ++k) {
        want += 2.0 * (ta ? A.get({k, i}) : A.get({i, k})) * (tb ? B.get({j, k}) : B.get({k, j}));
      }
      REQUIRE(C.get({i, j}) == Approx(want).epsilon(1e-5));
    }
  }
}

TEST_CASE("gemm matches a naive product for every transpose", "[gemm]") {
  for (const bool ta : {false, true}) {
    for (const bool tb : {false, true}) {
      check_gemm<float>(ta, tb);
      check_gemm<double>(ta, tb);
    }
  }
}
