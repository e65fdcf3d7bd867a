// The layer table: every kind has a unique snake_case name and builds from its options; option
// values parse as PyTorch spells them; unknown names, unknown or missing keys and bad values are
// ValueErrors that list what is valid.
#include <catch2/catch.hpp>
#include <set>

#include "core/error.h"
#include "layers/conv2d.h"
#include "layers/dropout.h"
#include "layers/layer_table.h"
#include "layers/linear.h"

using namespace normlab;
using Catch::Contains;

TEST_CASE("every layer kind has a unique snake_case name", "[layer_table]") {
  std::set<std::string_view> seen;
  REQUIRE(layer_names().size() == kNumLayerKinds);
  for (std::size_t i = 0; i < kNumLayerKinds; ++i) {
    const auto kind = static_cast<LayerKind>(i);
    const std::string_view name = layer_name(kind);
    CAPTURE(name);
    REQUIRE(seen.insert(name).second);
    REQUIRE(layer_kind(name) == kind);
    for (const char ch : name) {
      REQUIRE(((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_'));
    }
  }
}

TEST_CASE("make_layer builds every kind with minimal options", "[layer_table]") {
  const std::map<std::string_view, LayerOptions> minimal{
      {"linear", {{"in_features", "4"}, {"out_features", "3"}}},
      {"conv2d", {{"in_channels", "2"}, {"out_channels", "3"}, {"kernel_size", "3"}}},
      {"max_pool2d", {{"kernel_size", "2"}}},
      {"avg_pool2d", {{"kernel_size", "2"}}},
      {"batch_norm", {{"num_features", "3"}}},
      {"layer_norm", {{"normalized_shape", "3x2x2"}}},
      {"instance_norm", {{"num_features", "3"}}},
      {"group_norm", {{"num_groups", "2"}, {"num_channels", "4"}}},
      {"batch_renorm", {{"num_features", "3"}}},
      {"rms_norm", {{"normalized_shape", "4"}}},
      {"local_response_norm", {{"size", "3"}}},
      {"batch_channel_norm", {{"num_channels", "4"}, {"num_groups", "2"}}},
      {"ws_conv2d", {{"in_channels", "2"}, {"out_channels", "3"}, {"kernel_size", "3"}}},
  };
  const std::map<std::string_view, std::string> type{
      {"linear", "Linear"},
      {"conv2d", "Conv2d"},
      {"max_pool2d", "MaxPool2d"},
      {"avg_pool2d", "AvgPool2d"},
      {"global_avg_pool2d", "GlobalAvgPool2d"},
      {"relu", "ReLU"},
      {"leaky_relu", "LeakyReLU"},
      {"gelu", "GELU"},
      {"dropout", "Dropout"},
      {"flatten", "Flatten"},
      {"identity", "Identity"},
      {"batch_norm", "BatchNorm"},
      {"layer_norm", "LayerNorm"},
      {"instance_norm", "InstanceNorm2d"},
      {"group_norm", "GroupNorm"},
      {"batch_renorm", "BatchRenorm"},
      {"rms_norm", "RMSNorm"},
      {"local_response_norm", "LocalResponseNorm"},
      {"batch_channel_norm", "BatchChannelNorm"},
      {"ws_conv2d", "WSConv2d"},
  };
  for (const std::string_view name : layer_names()) {
    CAPTURE(name);
    Rng rng(1);
    const auto it = minimal.find(name);
    const auto layer =
        make_layer(name, it == minimal.end() ? LayerOptions{} : it->second, DType::f64, rng);
    REQUIRE(layer != nullptr);
    REQUIRE(layer->type_name() == type.at(name));
    for (Variable* p : layer->parameters()) {
      REQUIRE(p->dtype() == DType::f64);
    }
  }
}

TEST_CASE("make_layer reads PyTorch's option keys and spellings", "[layer_table]") {
  Rng rng(3);
  const auto conv = make_layer("conv2d",
                               {{"in_channels", "4"},
                                {"out_channels", "6"},
                                {"kernel_size", "(3, 1)"},
                                {"stride", "2,1"},
                                {"padding", "[1, 0]"},
                                {"dilation", "1"},
                                {"groups", "2"},
                                {"bias", "False"}},
                               DType::f32, rng);
  REQUIRE(conv->to_string() ==
          "Conv2d(4, 6, kernel_size=(3, 1), stride=(2, 1), padding=(1, 0), groups=2, bias=False)");
  auto& c = dynamic_cast<Conv2d&>(*conv);
  REQUIRE(c.weight().shape() == Shape{6, 2, 3, 1});
  REQUIRE(
      make_layer(
          "avg_pool2d",
          {{"kernel_size", "3"}, {"stride", "1"}, {"padding", "1"}, {"count_include_pad", "false"}},
          DType::f32, rng)
          ->to_string() ==
      "AvgPool2d(kernel_size=3, stride=1, padding=1, count_include_pad=False)");
  REQUIRE(make_layer("max_pool2d", {{"kernel_size", "3"}}, DType::f32, rng)->to_string() ==
          "MaxPool2d(kernel_size=3, stride=3, padding=0, dilation=1)");
  REQUIRE(make_layer("leaky_relu", {{"negative_slope", "0.2"}}, DType::f32, rng)->to_string() ==
          "LeakyReLU(negative_slope=0.2)");
  REQUIRE(make_layer("dropout", {{"p", "0.1"}}, DType::f32, rng)->to_string() == "Dropout(p=0.1)");
  REQUIRE(
      make_layer("flatten", {{"start_dim", "0"}, {"end_dim", "2"}}, DType::f32, rng)->to_string() ==
      "Flatten(start_dim=0, end_dim=2)");
  const auto lin =
      make_layer(LayerKind::linear, {{"in_features", "3"}, {"out_features", "2"}, {"bias", "0"}},
                 DType::f32, rng);
  REQUIRE(lin->parameters().size() == 1);
  // The same rng seed gives the same parameters.
  Rng r1(9), r2(9);
  const auto a =
      make_layer("linear", {{"in_features", "3"}, {"out_features", "2"}}, DType::f32, r1);
  const auto b =
      make_layer("linear", {{"in_features", "3"}, {"out_features", "2"}}, DType::f32, r2);
  REQUIRE(a->state_dict().at("weight").get({1, 2}) == b->state_dict().at("weight").get({1, 2}));
}

TEST_CASE("make_layer errors list the valid names and keys", "[layer_table][errors]") {
  Rng rng(1);
  REQUIRE_THROWS_AS(make_layer("conv3d", {}, DType::f32, rng), ValueError);
  REQUIRE_THROWS_WITH(make_layer("conv3d", {}, DType::f32, rng),
                      Contains("unknown layer 'conv3d'") &&
                          Contains("linear, conv2d, max_pool2d") && Contains("identity"));
  REQUIRE_THROWS_WITH(
      make_layer("conv2d", {{"in_channels", "3"}, {"out_channels", "4"}, {"kernal_size", "3"}},
                 DType::f32, rng),
      Contains("conv2d needs option 'kernel_size'") &&
          Contains(
              "in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias"));
  REQUIRE_THROWS_WITH(
      make_layer("linear", {{"in_features", "3"}, {"out_features", "4"}, {"bias_", "true"}},
                 DType::f32, rng),
      Contains("linear has no option 'bias_'") &&
          Contains("(valid: in_features, out_features, bias)"));
  REQUIRE_THROWS_WITH(make_layer("relu", {{"inplace", "true"}}, DType::f32, rng),
                      Contains("relu has no option 'inplace' (valid: none)"));
  REQUIRE_THROWS_WITH(
      make_layer("linear", {{"in_features", "3.5"}, {"out_features", "4"}}, DType::f32, rng),
      Contains("linear option in_features='3.5' is not an integer"));
  REQUIRE_THROWS_WITH(
      make_layer("linear", {{"in_features", "3"}, {"out_features", "4"}, {"bias", "yes"}},
                 DType::f32, rng),
      Contains("is not a boolean"));
  REQUIRE_THROWS_WITH(make_layer("max_pool2d", {{"kernel_size", "2,2,2"}}, DType::f32, rng),
                      Contains("not an integer or a pair of integers"));
  REQUIRE_THROWS_WITH(make_layer("leaky_relu", {{"negative_slope", "inf"}}, DType::f32, rng),
                      Contains("not a finite number"));
  REQUIRE_THROWS_WITH(make_layer("dropout", {{"p", "2"}}, DType::f32, rng), Contains("[0, 1]"));
  REQUIRE_THROWS_AS(
      make_layer(
          "conv2d",
          {{"in_channels", "3"}, {"out_channels", "4"}, {"kernel_size", "3"}, {"groups", "2"}},
          DType::f32, rng),
      ValueError);
  REQUIRE_THROWS_AS(
      make_layer("linear", {{"in_features", "3"}, {"out_features", "4"}}, DType::i64, rng),
      DTypeError);
}
