// The comparison helpers every golden and equality assertion rests on: a NaN or an infinity must
// make a comparison fail, never vanish inside a max.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "core/tensor_math.h"

using namespace normlab;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

Tensor vec(const std::vector<double>& v, DType dtype = DType::f64) {
  return Tensor::from_vector({static_cast<std::int64_t>(v.size())}, v, dtype);
}

}  // namespace

TEST_CASE("max_abs and max_abs_diff of finite tensors", "[tensor_math]") {
  REQUIRE(max_abs(vec({1.0, -3.0, 2.0})) == 3.0);
  REQUIRE(max_abs_diff(vec({1.0, -3.0, 2.0}), vec({1.5, -3.0, 0.0})) == 2.0);
  REQUIRE(max_abs_diff(vec({1.0, 2.0}), vec({1.0, 2.0})) == 0.0);
}

TEST_CASE("a NaN anywhere makes max_abs and max_abs_diff NaN", "[tensor_math][meta]") {
  for (const DType dtype : {DType::f32, DType::f64}) {
    INFO(std::string(dtype_name(dtype)));
    // The NaN in the middle, after a larger finite value, then first and last: std::max(m, NaN)
    // would return m in every position but the first.
    REQUIRE(std::isnan(max_abs(vec({5.0, kNaN, 1.0}, dtype))));
    REQUIRE(std::isnan(max_abs(vec({kNaN, 5.0}, dtype))));
    REQUIRE(std::isnan(max_abs(vec({5.0, kNaN}, dtype))));
    const Tensor ref = vec({1.0, 2.0, 3.0}, dtype);
    REQUIRE(std::isnan(max_abs_diff(vec({1.0, kNaN, 3.0}, dtype), ref)));
    REQUIRE(std::isnan(max_abs_diff(ref, vec({1.0, 2.0, kNaN}, dtype))));
    REQUIRE(std::isnan(max_abs_diff(vec({kNaN, kNaN, kNaN}, dtype), vec({kNaN, kNaN, kNaN}))));
  }
}

TEST_CASE("an infinity on one side is an infinite difference; equal infinities are equal",
          "[tensor_math][meta]") {
  REQUIRE(max_abs(vec({1.0, -kInf})) == kInf);
  REQUIRE(max_abs_diff(vec({1.0, kInf}), vec({1.0, 2.0})) == kInf);
  REQUIRE(max_abs_diff(vec({kInf, 1.0}), vec({-kInf, 1.0})) == kInf);
  REQUIRE(max_abs_diff(vec({kInf, -kInf}), vec({kInf, -kInf})) == 0.0);
}

TEST_CASE("allclose is false for NaN and one-sided infinities", "[tensor_math][meta]") {
  const Tensor ref = vec({1.0, 2.0});
  REQUIRE(allclose(ref, vec({1.0, 2.0})));
  REQUIRE_FALSE(allclose(vec({1.0, kNaN}), ref));
  REQUIRE_FALSE(allclose(ref, vec({kNaN, 2.0})));
  REQUIRE_FALSE(allclose(vec({kNaN, kNaN}), vec({kNaN, kNaN})));
  REQUIRE_FALSE(allclose(vec({1.0, kInf}), ref));
  REQUIRE(allclose(vec({1.0, kInf}), vec({1.0, kInf})));
}

TEST_CASE("a tolerance test on max_abs_diff fails for a NaN result", "[tensor_math][meta]") {
  // The shape every golden assertion has: err <= tol · scale.
  const Tensor want = vec({0.25, -0.5, 1.0});
  const Tensor all_nan = vec({kNaN, kNaN, kNaN});
  const double err = max_abs_diff(all_nan, want);
  REQUIRE_FALSE(err <= 1e-5 * (1.0 + max_abs(want)));
  REQUIRE(max_abs_diff(want, want) <= 1e-5 * (1.0 + max_abs(want)));
}
