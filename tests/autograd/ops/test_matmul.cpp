// matmul: 2-D, batched 3-D and a shared 2-D operand; gradients against central differences,
// values against a naive triple loop over row-major, transposed and otherwise strided operands.
#include <catch2/catch.hpp>

#include "autograd/ops.h"
#include "autograd/ops/matmul.h"
#include "core/error.h"
#include "core/tensor_math.h"
#include "tests/test_helpers.h"

using namespace normlab;
using namespace normlab::test;
using Catch::Contains;

namespace {

// Σ_k a[.., m, k] · b[.., k, n] by get(), broadcasting a 2-D operand over the batch.
Tensor naive_matmul(const Tensor& a, const Tensor& b) {
  const bool batched = a.ndim() == 3 || b.ndim() == 3;
  const std::int64_t B = a.ndim() == 3 ? a.dim(0) : (b.ndim() == 3 ? b.dim(0) : 1);
  const std::int64_t M = a.dim(-2), K = a.dim(-1), N = b.dim(-1);
  Tensor y = Tensor::zeros(batched ? Shape{B, M, N} : Shape{M, N}, DType::f64);
  const auto at = [](const Tensor& t, std::int64_t i, std::int64_t r, std::int64_t c) {
    return t.ndim() == 3 ? t.get({i, r, c}) : t.get({r, c});
  };
  for (std::int64_t i = 0; i < B; ++i) {
    for (std::int64_t m = 0; m < M; ++m) {
      for (std::int64_t n = 0; n < N; ++n) {
        double s = 0.0;
        for (std::int64_t k = 0; k < K; ++k) {
          s += at(a, i, m, k) * at(b, i, k, n);
        }
        y.set(batched ? std::vector<std::int64_t>{i, m, n} : std::vector<std::int64_t>{m, n}, s);
      }
    }
  }
  return y;
}

const auto kMatmul = [](const std::vector<Variable>& in) { return matmul(in[0], in[1]); };

}  // namespace

TEST_CASE("matmul backward matches finite differences", "[matmul][gradcheck]") {
  Rng rng(31);
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{4, 3}, {3, 5}},        // 2-D
      {{1, 3}, {3, 1}},        // size-1 rows and columns
      {{3, 1}, {1, 4}},        // K = 1: an outer product
      {{2, 4, 3}, {2, 3, 5}},  // batched
      {{2, 4, 3}, {3, 2}},     // b shared by every batch: db sums over the batch
      {{4, 3}, {2, 3, 2}},     // a shared by every batch
      {{1, 2, 2}, {1, 2, 2}},  // batch of one
  };
  for (const auto& [sa, sb] : shapes) {
    INFO("a: " << to_string(sa) << ", b: " << to_string(sb));
    require_gradcheck(kMatmul, {leaf(sa, rng), leaf(sb, rng)});
  }
  // Only one operand requires a gradient.
  require_gradcheck(kMatmul, {leaf({2, 3}, rng), Variable(randn({3, 4}, DType::f64, rng))});
  require_gradcheck(kMatmul, {Variable(randn({2, 3}, DType::f64, rng)), leaf({3, 4}, rng)});
}

TEST_CASE("matmul backward matches finite differences on non-contiguous operands",
          "[matmul][gradcheck]") {
  Rng rng(32);
  // Transposed matrices go to GEMM with a transpose flag.
  require_gradcheck(kMatmul, {transposed_leaf({4, 3}, rng), transposed_leaf({3, 5}, rng)});
  require_gradcheck(kMatmul, {leaf({4, 3}, rng), transposed_leaf({3, 5}, rng)});
  // A column slice: row-major with a leading dimension larger than the width.
  const Variable wide(randn({4, 7}, DType::f64, rng).narrow(1, 2, 3), true);
  require_gradcheck(kMatmul, {wide, leaf({3, 2}, rng)});
  // Batched with the batch dim not outermost in memory: (M, B, K) storage permuted to (B, M, K).
  const Variable batch_inner(randn({4, 2, 3}, DType::f64, rng).permute({1, 0, 2}), true);
  require_gradcheck(kMatmul, {batch_inner, leaf({2, 3, 5}, rng)});
  // Batched and transposed in the last two dims.
  const Variable bt(randn({2, 3, 4}, DType::f64, rng).transpose(1, 2), true);
  require_gradcheck(kMatmul, {bt, transposed_leaf({2, 3, 2}, rng)});
}

TEST_CASE("matmul forward values by hand and against a naive loop", "[matmul]") {
  const Variable a(values({2, 3}, {1, 2, 3, 4, 5, 6}));
  const Variable b(values({3, 2}, {7, 8, 9, 10, 11, 12}));
  require_values(matmul(a, b).data(), {2, 2}, {58, 64, 139, 154});

  Rng rng(33);
  const std::vector<std::pair<Tensor, Tensor>> cases = {
      {randn({5, 4}, DType::f64, rng).transpose(0, 1), randn({5, 3}, DType::f64, rng)},
      {randn({4, 6}, DType::f64, rng).narrow(1, 1, 5),
       randn({3, 5}, DType::f64, rng).transpose(0, 1)},
      {randn({1, 5}, DType::f64, rng).expand({4, 5}), randn({5, 2}, DType::f64, rng)},  // stride 0
      {randn({3, 2, 4}, DType::f64, rng).permute({1, 0, 2}), randn({4, 3}, DType::f64, rng)},
      {randn({2, 4}, DType::f64, rng), randn({2, 3, 4}, DType::f64, rng).transpose(1, 2)},
  };
  for (const auto& [x, y] : cases) {
    INFO("a: " << to_string(x.shape()) << ", b: " << to_string(y.shape()));
    const Tensor got = matmul_forward(x, y);
    REQUIRE(max_abs_diff(got, naive_matmul(x, y)) < 1e-12);
  }
}

TEST_CASE("matmul computes in float32 and handles an empty inner dimension", "[matmul]") {
  const Variable a(values({2, 2}, {1, 2, 3, 4}, DType::f32));
  const Variable b(values({2, 1}, {1, -1}, DType::f32));
  const Variable y = matmul(a, b);
  REQUIRE(y.dtype() == DType::f32);
  require_values(y.data(), {2, 1}, {-1, -1}, 1e-6);
  const Variable e0(Tensor::zeros({3, 0}, DType::f64), true);
  const Variable e1(Tensor::zeros({0, 2}, DType::f64), true);
  const Variable z = matmul(e0, e1);
  require_values(z.data(), {3, 2}, {0, 0, 0, 0, 0, 0});
  sum(z).backward();
  REQUIRE(e0.grad().shape() == Shape{3, 0});
}

TEST_CASE("matmul rejects mismatched shapes, naming both", "[matmul][errors]") {
  const auto z = [](Shape s) { return Variable(Tensor::zeros(std::move(s), DType::f64)); };
  REQUIRE_THROWS_AS(matmul(z({4, 3}), z({5, 2})), ShapeError);
  REQUIRE_THROWS_WITH(matmul(z({4, 3}), z({5, 2})),
                      Catch::Equals("matmul: inner dimensions differ (a: [4, 3], b: [5, 2])"));
  REQUIRE_THROWS_WITH(matmul(z({2, 4, 3}), z({3, 3, 2})), Contains("matmul: batch sizes differ") &&
                                                              Contains("[2, 4, 3]") &&
                                                              Contains("[3, 3, 2]"));
  REQUIRE_THROWS_WITH(matmul(z({3}), z({3, 2})), Contains("matmul: expected 2-D or 3-D") &&
                                                     Contains("[3]") && Contains("[3, 2]"));
  REQUIRE_THROWS_AS(matmul(z({2, 2}), Variable(Tensor::zeros({2, 2}, DType::f32))), DTypeError);
}
