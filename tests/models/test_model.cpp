// tests/models/test_model.cpp: ModelKind's name table, option checks, the state_dict names and
// parameter counts of every model against its PyTorch twin (tools/torch_models.py), determinism,
// zero_init_last_gamma and the wrap_norm hook.
#include <fmt/format.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/shape.h"
#include "core/tensor_math.h"
#include "layers/norm/group_norm.h"
#include "model_test_util.h"
#include "models/model.h"

namespace normlab {
namespace {

using test::small_options;

TEST_CASE("model kind names round-trip and unknown names list the valid ones", "[model][names]") {
  REQUIRE(all_model_kinds().size() == kNumModelKinds);
  for (const ModelKind kind : all_model_kinds()) {
    REQUIRE(parse_model_kind(model_kind_name(kind)) == kind);
  }
  REQUIRE(model_kind_name(ModelKind::tiny) == "tiny");
  REQUIRE(model_kind_name(ModelKind::vgg) == "vgg");
  REQUIRE(model_kind_name(ModelKind::resnet20) == "resnet20");
  REQUIRE_THROWS_AS(parse_model_kind("resnet18"), ValueError);
  REQUIRE_THROWS_WITH(
      parse_model_kind("resnet18"),
      Catch::Matchers::Contains("'resnet18'") && Catch::Matchers::Contains("tiny, vgg, resnet20"));
  REQUIRE_THROWS_AS(model_kind_name(static_cast<ModelKind>(7)), ValueError);
}

TEST_CASE("make_model rejects bad options with the model's name", "[model][errors]") {
  Rng rng(1);
  const ModelKind kind = GENERATE(ModelKind::tiny, ModelKind::vgg, ModelKind::resnet20);
  CAPTURE(model_kind_name(kind));
  ModelOptions o = small_options(kind, NormKind::group);
  o.in_channels = 0;
  REQUIRE_THROWS_WITH(make_model(kind, o, rng),
                      Catch::Matchers::Contains(std::string(model_kind_name(kind))) &&
                          Catch::Matchers::Contains("in_channels: 0"));
  o = small_options(kind, NormKind::group);
  o.num_classes = -1;
  REQUIRE_THROWS_AS(make_model(kind, o, rng), ValueError);
  o = small_options(kind, NormKind::group);
  o.width = 0.0;
  REQUIRE_THROWS_WITH(make_model(kind, o, rng), Catch::Matchers::Contains("width"));
  o.width = std::numeric_limits<double>::quiet_NaN();
  REQUIRE_THROWS_AS(make_model(kind, o, rng), ValueError);
  o = small_options(kind, NormKind::group);
  o.wrap_norm = [](std::unique_ptr<Module>) { return std::unique_ptr<Module>(); };
  REQUIRE_THROWS_WITH(make_model(kind, o, rng), Catch::Matchers::Contains("wrap_norm"));
}

TEST_CASE("instance norm on a 1x1 feature map is refused at build time", "[model][errors]") {
  Rng rng(2);
  ModelOptions o = small_options(ModelKind::vgg, NormKind::instance);
  o.image_size = 28;  // 28 → 14 → 7 → 3 → 1: block 5 runs at 1×1
  REQUIRE_THROWS_WITH(make_model(ModelKind::vgg, o, rng),
                      Catch::Matchers::Contains("InstanceNorm") &&
                          Catch::Matchers::Contains("features.35") &&
                          Catch::Matchers::Contains("image_size: 28"));
  o.norm = NormKind::group;  // other norms build at 28×28
  REQUIRE_NOTHROW(make_model(ModelKind::vgg, o, rng));
  o = small_options(ModelKind::tiny, NormKind::instance);
  o.image_size = 4;  // the third conv sees 1×1
  REQUIRE_THROWS_WITH(make_model(ModelKind::tiny, o, rng), Catch::Matchers::Contains("features.9"));
}

// tiny's names spelled out: PyTorch's for Sequential(conv, norm, relu, pool) × 3 + Linear.
TEST_CASE("tiny's state_dict names are PyTorch's", "[model][tiny][names]") {
  Rng rng(3);
  auto names = [&](NormKind norm) {
    auto model = make_model(ModelKind::tiny, small_options(ModelKind::tiny, norm), rng);
    std::vector<std::string> out;
    for (const auto& [name, tensor] : model->state_dict()) {
      out.push_back(name);
    }
    return out;
  };
  // StateDict is a std::map: sorted names.
  REQUIRE(names(NormKind::batch) == std::vector<std::string>{"classifier.bias",
                                                             "classifier.weight",
                                                             "features.0.weight",
                                                             "features.1.bias",
                                                             "features.1.num_batches_tracked",
                                                             "features.1.running_mean",
                                                             "features.1.running_var",
                                                             "features.1.weight",
                                                             "features.4.weight",
                                                             "features.5.bias",
                                                             "features.5.num_batches_tracked",
                                                             "features.5.running_mean",
                                                             "features.5.running_var",
                                                             "features.5.weight",
                                                             "features.8.weight",
                                                             "features.9.bias",
                                                             "features.9.num_batches_tracked",
                                                             "features.9.running_mean",
                                                             "features.9.running_var",
                                                             "features.9.weight"});
  REQUIRE(names(NormKind::none) ==
          std::vector<std::string>{"classifier.bias", "classifier.weight", "features.0.bias",
                                   "features.0.weight", "features.4.bias", "features.4.weight",
                                   "features.8.bias", "features.8.weight"});
  REQUIRE(names(NormKind::group) ==
          std::vector<std::string>{"classifier.bias", "classifier.weight", "features.0.weight",
                                   "features.1.bias", "features.1.weight", "features.4.weight",
                                   "features.5.bias", "features.5.weight", "features.8.weight",
                                   "features.9.bias", "features.9.weight"});
  REQUIRE(names(NormKind::batch_renorm) ==
          std::vector<std::string>{"classifier.bias",
                                   "classifier.weight",
                                   "features.0.weight",
                                   "features.1.bias",
                                   "features.1.num_batches_tracked",
                                   "features.1.running_mean",
                                   "features.1.running_std",
                                   "features.1.weight",
                                   "features.4.weight",
                                   "features.5.bias",
                                   "features.5.num_batches_tracked",
                                   "features.5.running_mean",
                                   "features.5.running_std",
                                   "features.5.weight",
                                   "features.8.weight",
                                   "features.9.bias",
                                   "features.9.num_batches_tracked",
                                   "features.9.running_mean",
                                   "features.9.running_std",
                                   "features.9.weight"});
}

// One golden line: "param <name> [<shape>]" or "buffer <name> [<shape>]".
struct NamedShape {
  std::string name, shape;
  bool operator==(const NamedShape&) const = default;
};

std::pair<std::vector<NamedShape>, std::vector<NamedShape>> read_name_golden(
    const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  std::vector<NamedShape> params, buffers;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream s(line);
    std::string kind, name, shape;
    s >> kind >> name;
    std::getline(s >> std::ws, shape);
    REQUIRE((kind == "param" || kind == "buffer"));
    (kind == "param" ? params : buffers).push_back({name, shape});
  }
  return {params, buffers};
}

TEST_CASE("every model's parameters and buffers match its PyTorch twin's names, shapes and order",
          "[model][names]") {
  const ModelKind kind = GENERATE(ModelKind::tiny, ModelKind::vgg, ModelKind::resnet20);
  const NormKind norm = GENERATE(from_range(all_norm_kinds().begin(), all_norm_kinds().end()));
  CAPTURE(test::case_name(kind, norm));
  Rng rng(4);
  auto model = make_model(kind, small_options(kind, norm), rng);
  std::vector<NamedShape> params, buffers;
  for (const auto& [name, p] : model->named_parameters()) {
    params.push_back({name, to_string(p->shape())});
  }
  for (const auto& [name, b] : model->named_buffers()) {
    buffers.push_back({name, to_string(b->shape())});
  }
  const auto [want_params, want_buffers] =
      read_name_golden(fmt::format("{}/tests/golden/models/{}_{}.txt", NORMLAB_SOURCE_DIR,
                                   model_kind_name(kind), norm_kind_name(norm)));
  REQUIRE(params.size() == want_params.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    CAPTURE(i);
    REQUIRE(params[i].name == want_params[i].name);
    REQUIRE(params[i].shape == want_params[i].shape);
  }
  REQUIRE(buffers == want_buffers);
}

TEST_CASE("parameter counts equal the PyTorch twin's", "[model][names]") {
  // From /usr/bin/python3 tools/torch_models.py (sum of numel over the twin's parameters).
  // none has conv biases; batch_channel has 2·C + 2·G affine values per norm instead of 2·C.
  const std::map<std::pair<ModelKind, NormKind>, std::int64_t> counts{
      {{ModelKind::tiny, NormKind::none}, 93962},
      {{ModelKind::tiny, NormKind::batch}, 94186},
      {{ModelKind::tiny, NormKind::batch_channel}, 94378},
      {{ModelKind::vgg, NormKind::none}, 231218},
      {{ModelKind::vgg, NormKind::batch}, 231746},
      {{ModelKind::vgg, NormKind::batch_channel}, 232418},
      {{ModelKind::resnet20, NormKind::none}, 271402},
      {{ModelKind::resnet20, NormKind::batch}, 272186},
      {{ModelKind::resnet20, NormKind::batch_channel}, 273306},
  };
  for (const ModelKind kind : all_model_kinds()) {
    for (const NormKind norm : all_norm_kinds()) {
      CAPTURE(test::case_name(kind, norm));
      // group, layer, instance, batch_renorm and ws_group have batch's per-channel γ and β.
      const NormKind same_as =
          (norm == NormKind::none || norm == NormKind::batch_channel) ? norm : NormKind::batch;
      Rng rng(5);
      auto model = make_model(kind, small_options(kind, norm), rng);
      REQUIRE(model->num_parameters() == counts.at({kind, same_as}));
    }
  }
}

TEST_CASE("a seed gives the same model and another seed a different one", "[model]") {
  const ModelKind kind = GENERATE(ModelKind::tiny, ModelKind::vgg, ModelKind::resnet20);
  CAPTURE(model_kind_name(kind));
  const ModelOptions o = small_options(kind, NormKind::ws_group);
  Rng a(6), b(6), c(7);
  auto ma = make_model(kind, o, a), mb = make_model(kind, o, b), mc = make_model(kind, o, c);
  const StateDict sa = ma->state_dict(), sb = mb->state_dict(), sc = mc->state_dict();
  for (const auto& [name, t] : sa) {
    CAPTURE(name);
    REQUIRE(max_abs_diff(t, sb.at(name)) == 0.0);
  }
  REQUIRE(max_abs_diff(sa.at("classifier.weight"), sc.at("classifier.weight")) > 0.0);
}

TEST_CASE("convolutions use Kaiming normal init (fan_out, relu) and zero biases", "[model][init]") {
  Rng rng(8);
  auto model = make_model(ModelKind::tiny, small_options(ModelKind::tiny, NormKind::none), rng);
  const StateDict s = model->state_dict();
  const Tensor w = s.at("features.4.weight").to(DType::f64);  // (64, 32, 3, 3): fan_out = 576
  const double n = static_cast<double>(w.numel());
  const double var = dot_all(w, w) / n - std::pow(sum_all(w) / n, 2);
  REQUIRE(std::sqrt(var) == Approx(std::sqrt(2.0 / 576.0)).epsilon(0.03));
  REQUIRE(max_abs(s.at("features.4.bias")) == 0.0);
  REQUIRE(max_abs(s.at("classifier.weight")) <= 1.0 / std::sqrt(128.0));  // PyTorch's default
}

TEST_CASE("zero_init_last_gamma zeroes exactly the last gamma of each residual block",
          "[model][resnet20]") {
  const NormKind norm = GENERATE(from_range(all_norm_kinds().begin(), all_norm_kinds().end()));
  CAPTURE(norm_kind_name(norm));
  ModelOptions o = small_options(ModelKind::resnet20, norm);
  Rng a(9), b(9);
  auto plain = make_model(ModelKind::resnet20, o, a);
  o.zero_init_last_gamma = true;
  auto zeroed = make_model(ModelKind::resnet20, o, b);
  const std::string gamma = norm == NormKind::batch_channel ? "channel_norm.weight" : "weight";
  std::vector<std::string> want;
  if (norm != NormKind::none) {
    for (int stage = 1; stage <= 3; ++stage) {
      for (int block = 0; block < 3; ++block) {
        want.push_back(fmt::format("layer{}.{}.body.4.{}", stage, block, gamma));
      }
    }
  }
  const StateDict sp = plain->state_dict(), sz = zeroed->state_dict();
  std::vector<std::string> changed;
  for (const auto& [name, t] : sp) {
    if (max_abs_diff(t, sz.at(name)) != 0.0) {
      changed.push_back(name);
      CAPTURE(name);
      REQUIRE(max_abs(sz.at(name)) == 0.0);
      REQUIRE(max_abs_diff(t, Tensor::ones(t.shape(), t.dtype())) == 0.0);  // was the default 1
    }
  }
  std::sort(want.begin(), want.end());
  REQUIRE(changed == want);
}

// Counts the forward and forward_no_grad calls of the norm it wraps, which it registers as "inner".
class CountingNorm final : public Module {
 public:
  CountingNorm(std::unique_ptr<Module> inner, int& forwards, int& infers)
      : inner_(std::move(inner)), forwards_(forwards), infers_(infers) {
    register_module("inner", inner_.get());
  }
  Variable forward(const Variable& x) override {
    ++forwards_;
    return inner_->forward(x);
  }
  Tensor forward_no_grad(const Tensor& x) override {
    ++infers_;
    return inner_->forward_no_grad(x);
  }
  std::string type_name() const override { return "CountingNorm"; }

 private:
  std::unique_ptr<Module> inner_;
  int& forwards_;
  int& infers_;
};

TEST_CASE(
    "wrap_norm wraps every norm layer; forward_no_grad reaches them through forward_no_grad only",
    "[model][wrap_norm]") {
  const auto [kind, norms] = GENERATE(table<ModelKind, int>({
      {ModelKind::tiny, 3},
      {ModelKind::vgg, 13},
      {ModelKind::resnet20, 21},  // stem + 9 blocks × 2 + 2 shortcuts
  }));
  CAPTURE(model_kind_name(kind));
  int wrapped = 0, forwards = 0, infers = 0;
  ModelOptions o = small_options(kind, NormKind::group);
  o.wrap_norm = [&](std::unique_ptr<Module> norm) -> std::unique_ptr<Module> {
    ++wrapped;
    REQUIRE(dynamic_cast<GroupNorm*>(norm.get()) != nullptr);
    return std::make_unique<CountingNorm>(std::move(norm), forwards, infers);
  };
  Rng rng(10);
  auto model = make_model(kind, o, rng);
  REQUIRE(wrapped == norms);
  REQUIRE(model->state_dict().count(kind == ModelKind::resnet20 ? "stem.1.inner.weight"
                                                                : "features.1.inner.weight") == 1);
  const Tensor x = test::model_input(o, 2, rng);
  model->forward_no_grad(x);
  REQUIRE(infers == norms);
  REQUIRE(forwards == 0);
  model->forward(Variable(x));
  REQUIRE(forwards == norms);

  o.norm = NormKind::none;  // no norm layers: the hook is never called
  wrapped = 0;
  make_model(kind, o, rng);
  REQUIRE(wrapped == 0);
}

}  // namespace
}  // namespace normlab
