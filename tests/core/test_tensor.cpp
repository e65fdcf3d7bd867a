// Tensor: construction, views that share storage, copies, element access and errors.
#include <catch2/catch.hpp>

#include "core/error.h"
#include "core/tensor.h"

using namespace normlab;

TEST_CASE("tensor views share storage and copies do not", "[tensor]") {
  Tensor a = Tensor::from_vector({2, 3}, {0, 1, 2, 3, 4, 5}, DType::f64);
  Tensor v = a.view({3, 2});
  v.set({2, 1}, 50.0);
  REQUIRE(a.get({1, 2}) == 50.0);
  Tensor c = a.clone();
  c.set({0, 0}, -1.0);
  REQUIRE(a.get({0, 0}) == 0.0);
  REQUIRE(v.shares_storage(a));
  REQUIRE_FALSE(c.shares_storage(a));
}

TEST_CASE("transpose is a strided view and contiguous() copies it in order", "[tensor]") {
  Tensor a = Tensor::from_vector({2, 3}, {0, 1, 2, 3, 4, 5}, DType::f32);
  Tensor t = a.transpose(0, 1);
  REQUIRE(t.shape() == Shape{3, 2});
  REQUIRE_FALSE(t.is_contiguous());
  REQUIRE(t.get({2, 1}) == 5.0);
  Tensor c = t.contiguous();
  REQUIRE(c.is_contiguous());
  const std::vector<float> want{0, 3, 1, 4, 2, 5};
  const auto got = c.data<float>();
  REQUIRE(std::vector<float>(got.begin(), got.end()) == want);
  REQUIRE_THROWS_AS(t.data<float>(), ShapeError);
  REQUIRE_THROWS_AS(t.view({6}), ShapeError);
  REQUIRE(t.reshape({6}).get({1}) == 3.0);
}

TEST_CASE("narrow, select and permute index the right elements", "[tensor]") {
  Tensor a = Tensor::from_vector({2, 3, 4}, std::vector<double>(24, 0.0), DType::f64);
  for (std::int64_t i = 0; i < 24; ++i) {
    a.view({24}).set({i}, static_cast<double>(i));
  }
  REQUIRE(a.narrow(2, 1, 2).get({1, 2, 1}) == 12.0 + 8.0 + 2.0);
  REQUIRE(a.select(1, 2).get({1, 3}) == 12.0 + 8.0 + 3.0);
  Tensor p = a.permute({2, 0, 1});
  REQUIRE(p.shape() == Shape{4, 2, 3});
  REQUIRE(p.get({3, 1, 2}) == a.get({1, 2, 3}));
  REQUIRE_THROWS_WITH(a.narrow(2, 3, 2), Catch::Contains("narrow") && Catch::Contains("[2, 3, 4]"));
  REQUIRE_THROWS_AS(a.permute({0, 0, 1}), ShapeError);
}

TEST_CASE("view infers -1 and rejects a wrong element count", "[tensor]") {
  Tensor a = Tensor::zeros({4, 6});
  REQUIRE(a.view({-1, 3}).shape() == Shape{8, 3});
  REQUIRE_THROWS_WITH(a.view({5, 5}), Catch::Contains("view") && Catch::Contains("[4, 6]"));
}

TEST_CASE("dtype conversion and dtype errors", "[tensor]") {
  Tensor a = Tensor::from_vector({3}, {1.5, -2.0, 3.25}, DType::f64);
  Tensor f = a.to(DType::f32);
  REQUIRE(f.dtype() == DType::f32);
  REQUIRE(f.data<float>()[2] == 3.25f);
  REQUIRE_THROWS_AS(a.data<float>(), DTypeError);
  REQUIRE(a.to(DType::i64).get({1}) == -2.0);
}

TEST_CASE("expand broadcasts with zero strides", "[tensor]") {
  Tensor a = Tensor::from_vector({3, 1}, {1, 2, 3}, DType::f64);
  Tensor e = a.expand({2, 3, 4});
  REQUIRE(e.get({1, 2, 3}) == 3.0);
  REQUIRE(e.contiguous().numel() == 24);
  REQUIRE_THROWS_AS(a.expand({2, 4}), ShapeError);
}

TEST_CASE("printing shows values, dtype and shape", "[tensor]") {
  Tensor a = Tensor::from_vector({2, 2}, {1, 2, 3, 4}, DType::f32);
  REQUIRE(a.to_string() == "tensor([[1, 2], [3, 4]], dtype=float32, shape=[2, 2])");
}

TEST_CASE("unravel_index inverts the row-major flat index", "[tensor]") {
  CHECK(unravel_index(5, {2, 3}) == std::vector<std::int64_t>{1, 2});
  CHECK(unravel_index(0, {2, 3, 4}) == std::vector<std::int64_t>{0, 0, 0});
  CHECK(unravel_index(17, {2, 3, 4}) == std::vector<std::int64_t>{1, 1, 1});
  CHECK(unravel_index(0, {}).empty());
}

TEST_CASE("at checks bounds", "[tensor]") {
  Tensor a = Tensor::zeros({2, 2}, DType::f64);
  REQUIRE_THROWS_AS(a.at<double>({2, 0}), ShapeError);
  a.at<double>({1, 1}) = 7.0;
  REQUIRE(a.get({1, 1}) == 7.0);
  REQUIRE_THROWS_AS(a.item(), ShapeError);
}

TEST_CASE("a shape whose strides overflow int64 is a ShapeError, even when empty",
          "[tensor][fuzz]") {
  constexpr std::int64_t kHuge = std::int64_t{1} << 40;
  CHECK_THROWS_AS(Tensor::empty({0, kHuge, kHuge}, DType::f32), ShapeError);
  CHECK_THROWS_AS(Tensor::empty({kHuge, kHuge}, DType::u8), ShapeError);
  CHECK(Tensor::empty({0, kHuge}, DType::f32).numel() == 0);
}
