// The norm entries of the layer table: PyTorch's option keys, "None" momentum and eps, shapes
// written 8x4x4, and the errors.
#include <catch2/catch.hpp>

#include "core/error.h"
#include "layers/layer_table.h"
#include "layers/norm/batch_norm.h"
#include "layers/norm/layer_norm.h"
#include "layers/norm/rms_norm.h"

using namespace normlab;
using Catch::Contains;

TEST_CASE("norm layer table entries read PyTorch's option keys", "[norm_table][layer_table]") {
  Rng rng(5);
  const auto bn = make_layer("batch_norm",
                             {{"num_features", "8"},
                              {"eps", "0.001"},
                              {"momentum", "None"},
                              {"affine", "false"},
                              {"track_running_stats", "true"}},
                             DType::f32, rng);
  REQUIRE(bn->to_string() ==
          "BatchNorm(8, eps=0.001, momentum=None, affine=False, track_running_stats=True)");
  REQUIRE_FALSE(dynamic_cast<BatchNorm&>(*bn).options().momentum.has_value());
  const auto ln = make_layer("layer_norm", {{"normalized_shape", "8x4x4"}}, DType::f64, rng);
  REQUIRE(dynamic_cast<LayerNorm&>(*ln).normalized_shape() == Shape{8, 4, 4});
  REQUIRE(ln->state_dict().at("weight").dtype() == DType::f64);
  REQUIRE(dynamic_cast<LayerNorm&>(
              *make_layer("layer_norm", {{"normalized_shape", "(16,)"}}, DType::f32, rng))
              .normalized_shape() == Shape{16});
  const auto rms =
      make_layer("rms_norm", {{"normalized_shape", "[4, 2]"}, {"eps", "None"}}, DType::f32, rng);
  REQUIRE_FALSE(dynamic_cast<RMSNorm&>(*rms).options().eps.has_value());
  REQUIRE(make_layer("group_norm", {{"num_groups", "4"}, {"num_channels", "8"}, {"eps", "1e-6"}},
                     DType::f32, rng)
              ->to_string() == "GroupNorm(4, 8, eps=1e-06, affine=True)");
  REQUIRE(make_layer("instance_norm", {{"num_features", "3"}, {"affine", "true"}}, DType::f32, rng)
              ->num_parameters() == 6);
  REQUIRE(make_layer("batch_renorm", {{"num_features", "3"}, {"r_max", "2"}, {"d_max", "1"}},
                     DType::f32, rng)
              ->to_string() ==
          "BatchRenorm(3, eps=1e-05, momentum=0.1, r_max=2, d_max=1, affine=True)");
  REQUIRE(make_layer("local_response_norm", {{"size", "5"}, {"alpha", "0.001"}, {"k", "2"}},
                     DType::f32, rng)
              ->to_string() == "LocalResponseNorm(5, alpha=0.001, beta=0.75, k=2)");
  REQUIRE(make_layer("batch_channel_norm",
                     {{"num_channels", "8"}, {"num_groups", "2"}, {"estimate", "false"}},
                     DType::f32, rng)
              ->state_dict()
              .count("batch_norm.num_batches_tracked") == 1);
  REQUIRE(make_layer("ws_conv2d",
                     {{"in_channels", "3"},
                      {"out_channels", "8"},
                      {"kernel_size", "3"},
                      {"padding", "1"},
                      {"bias", "false"},
                      {"eps", "1e-4"}},
                     DType::f32, rng)
              ->to_string() == "WSConv2d(3, 8, kernel_size=3, padding=1, bias=False, eps=0.0001)");
}

TEST_CASE("norm layer table entries reject bad options", "[norm_table][layer_table][errors]") {
  Rng rng(6);
  REQUIRE_THROWS_WITH(make_layer("layer_norm", {{"normalized_shape", "8x0"}}, DType::f32, rng),
                      Contains("normalized_shape='8x0'") && Contains("8x4x4"));
  REQUIRE_THROWS_WITH(
      make_layer("batch_norm", {{"num_features", "4"}, {"momentum", "fast"}}, DType::f32, rng),
      Contains("momentum='fast'") && Contains("None"));
  REQUIRE_THROWS_WITH(make_layer("group_norm", {{"num_groups", "3"}}, DType::f32, rng),
                      Contains("needs option 'num_channels'"));
  REQUIRE_THROWS_AS(
      make_layer("group_norm", {{"num_groups", "3"}, {"num_channels", "8"}}, DType::f32, rng),
      ShapeError);
  REQUIRE_THROWS_WITH(make_layer("batch_norm", {{"num_features", "4"}, {"elementwise_affine", "1"}},
                                 DType::f32, rng),
                      Contains("batch_norm has no option 'elementwise_affine'"));
}
