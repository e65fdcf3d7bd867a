// NormKind: the name table, the group clamping rule and make_norm2d for every kind.
#include <catch2/catch.hpp>

#include "core/error.h"
#include "core/random.h"
#include "layers/norm/group_norm.h"
#include "layers/norm/norm_kind.h"

using namespace normlab;

TEST_CASE("norm_kind names round-trip and unknown names are rejected", "[norm_kind]") {
  REQUIRE(all_norm_kinds().size() == kNumNormKinds);
  for (const NormKind kind : all_norm_kinds()) {
    REQUIRE(parse_norm_kind(norm_kind_name(kind)) == kind);
  }
  REQUIRE(norm_kind_name(NormKind::ws_group) == "ws_group");
  REQUIRE_THROWS_AS(parse_norm_kind("batchnorm"), ValueError);
  REQUIRE_THROWS_WITH(parse_norm_kind("batchnorm"),
                      Catch::Contains("'batchnorm'") && Catch::Contains("batch_channel"));
  REQUIRE(uses_weight_standardization(NormKind::ws_group));
  REQUIRE_FALSE(uses_weight_standardization(NormKind::group));
}

TEST_CASE("norm_kind clamps num_groups to the largest divisor of the channels", "[norm_kind]") {
  REQUIRE(clamp_num_groups(32, 64) == 32);
  REQUIRE(clamp_num_groups(32, 16) == 16);
  REQUIRE(clamp_num_groups(32, 48) == 24);
  REQUIRE(clamp_num_groups(4, 10) == 2);
  REQUIRE(clamp_num_groups(32, 7) == 7);
  REQUIRE(clamp_num_groups(3, 7) == 1);
  REQUIRE_THROWS_AS(clamp_num_groups(0, 8), ValueError);
}

TEST_CASE("norm_kind make_norm2d builds a working layer of every kind", "[norm_kind]") {
  const std::int64_t C = 12;
  Rng rng{1};
  const Tensor x = randn({2, C, 3, 3}, DType::f32, rng, 2.0, 3.0);
  for (const NormKind kind : all_norm_kinds()) {
    CAPTURE(norm_kind_name(kind));
    std::unique_ptr<Module> m = make_norm2d(kind, C, {.num_groups = 8});
    if (kind == NormKind::none) {
      REQUIRE(m == nullptr);
      continue;
    }
    REQUIRE(m != nullptr);
    REQUIRE(m->num_parameters() >= C);  // γ, β per channel (per group for the channel norm too)
    const Tensor y = m->forward_no_grad(x);
    REQUIRE(y.shape() == x.shape());
    m->eval();
    REQUIRE(m->forward_no_grad(x).shape() == x.shape());
  }
  const auto expected = std::vector<std::pair<NormKind, std::string>>{
      {NormKind::batch, "BatchNorm"},          {NormKind::group, "GroupNorm"},
      {NormKind::layer, "GroupNorm"},          {NormKind::instance, "InstanceNorm2d"},
      {NormKind::batch_renorm, "BatchRenorm"}, {NormKind::batch_channel, "BatchChannelNorm"},
      {NormKind::ws_group, "GroupNorm"},       {NormKind::sync_batch, "SyncBatchNorm"}};
  for (const auto& [kind, type] : expected) {
    REQUIRE(make_norm2d(kind, C)->type_name() == type);
  }
  auto layer = make_norm2d(NormKind::layer, C);
  REQUIRE(dynamic_cast<GroupNorm&>(*layer).num_groups() == 1);
  auto group = make_norm2d(NormKind::group, C, {.num_groups = 8});
  REQUIRE(dynamic_cast<GroupNorm&>(*group).num_groups() == 6);
  REQUIRE(
      make_norm2d(NormKind::batch, C, {.dtype = DType::f64})->state_dict().at("weight").dtype() ==
      DType::f64);
}
