// Learning-rate schedules against torch.optim.lr_scheduler values (tools/gen_optim_goldens.py)
// and hand values; they are pure functions of the step.
#include <catch2/catch.hpp>
#include <cmath>
#include <memory>

#include "core/error.h"
#include "core/npy.h"
#include "golden_steps.h"
#include "layers/optim/schedule.h"

using namespace normlab;

namespace {

void require_matches_torch(const LrSchedule& s, const std::string& file) {
  const Tensor want = read_npy(test::optim_golden(file));
  REQUIRE(want.numel() == 25);
  for (std::int64_t t = 0; t < 25; ++t) {
    CAPTURE(s.describe(), t);
    REQUIRE(s.lr_at(t) == Approx(want.get({t})).epsilon(1e-12).margin(1e-15));
  }
}

}  // namespace

TEST_CASE("schedules match torch's schedulers step by step", "[schedule][golden]") {
  require_matches_torch(MultiStepLr(0.1, {3, 7}, 0.1), "lr_multistep.npy");
  require_matches_torch(CosineLr(0.1, 10, 0.001), "lr_cosine.npy");
  require_matches_torch(WarmupLr(std::make_unique<ConstantLr>(0.1), 4, 0.25), "lr_warmup.npy");
  require_matches_torch(
      WarmupLr(std::make_unique<MultiStepLr>(0.1, std::vector<std::int64_t>{8, 12}), 5, 0.1),
      "lr_warmup_multistep.npy");
  require_matches_torch(WarmupLr(std::make_unique<CosineLr>(0.1, 12), 3, 0.2),
                        "lr_warmup_cosine.npy");
}

TEST_CASE("schedules by hand", "[schedule]") {
  CHECK(ConstantLr(0.05).lr_at(1000) == 0.05);
  // The GN paper's ImageNet schedule: divide by 10 at epochs 30, 60 and 90.
  const MultiStepLr gn(0.1, {30, 60, 90});
  CHECK(gn.lr_at(29) == Approx(0.1));
  CHECK(gn.lr_at(30) == Approx(0.01));
  CHECK(gn.lr_at(89) == Approx(0.001));
  CHECK(gn.lr_at(90) == Approx(0.0001));
  const CosineLr cosine(1.0, 100, 0.0);
  CHECK(cosine.lr_at(0) == 1.0);
  CHECK(cosine.lr_at(50) == Approx(0.5));
  CHECK(cosine.lr_at(100) == Approx(0.0).margin(1e-15));
  // Pure: the same t gives the same value in any order of calls.
  const WarmupLr warm(std::make_unique<CosineLr>(1.0, 100), 10, 0.1);
  const double at40 = warm.lr_at(40);
  CHECK(warm.lr_at(3) == Approx((0.1 + 0.9 * 0.3) * cosine.lr_at(3)).epsilon(1e-12));
  CHECK(warm.lr_at(40) == at40);
  CHECK(warm.lr_at(40) == cosine.lr_at(40));
}

TEST_CASE("schedules reject bad arguments", "[schedule][errors]") {
  REQUIRE_THROWS_AS(ConstantLr(-0.1), ValueError);
  REQUIRE_THROWS_WITH(MultiStepLr(0.1, {60, 30}), Catch::Matchers::Contains("not increasing"));
  REQUIRE_THROWS_AS(CosineLr(0.1, 0), ValueError);
  REQUIRE_THROWS_AS(WarmupLr(std::make_unique<ConstantLr>(0.1), 0, 0.1), ValueError);
  REQUIRE_THROWS_AS(WarmupLr(std::make_unique<ConstantLr>(0.1), 5, 0.0), ValueError);
  REQUIRE_THROWS_AS(WarmupLr(nullptr, 5, 0.5), ValueError);
  REQUIRE_THROWS_WITH(ConstantLr(0.1).lr_at(-1), Catch::Matchers::Contains("negative"));
}
