// Every layer against PyTorch 1.13 (tools/gen_layer_goldens.py, tests/golden/layers/): the layer is
// built through the layer table from the manifest's options, loaded with torch's parameters, and
// its output and gradients (input, weight, bias) are compared in float32 (1e-5 relative) and in
// float64 (1e-10 relative; the references are float64).
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/npy.h"
#include "layers/layer_table.h"
#include "tests/layers/layer_test_helpers.h"

using namespace normlab;
using namespace normlab::test;

namespace {

const std::string kDir = NORMLAB_SOURCE_DIR "/tests/golden/layers/";

nlohmann::json load_manifest() {
  std::ifstream in(kDir + "manifest.json");
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

void check_case(const nlohmann::json& c, DType dtype, double rtol) {
  const std::string name = c["name"];
  const auto& files = c["files"];
  const auto file = [&](const std::string& key) {
    return read_npy(kDir + files[key].get<std::string>());
  };
  INFO("case " << name << " in " << dtype_name(dtype));
  Rng rng(1);
  const LayerOptions options = c["options"].get<LayerOptions>();
  std::unique_ptr<Module> layer = make_layer(c["layer"].get<std::string>(), options, dtype, rng);
  StateDict state;
  for (const auto& p : c["parameters"]) {
    state[p.get<std::string>()] = file(p.get<std::string>());
  }
  layer->load_state_dict(state);  // strict: the parameter names match torch's

  const Variable x(file("input").to(dtype), true);
  const Variable y = layer->forward(x);
  require_close(y.data(), file("output"), rtol, name + " output");
  require_close(layer->forward_no_grad(x.data()), file("output"), rtol, name + " forward_no_grad");
  y.backward(file("grad_output").to(dtype));
  require_close(x.grad(), file("grad_input"), rtol, name + " grad_input");
  for (auto& [pname, p] : layer->named_parameters()) {
    require_close(p->grad(), file("grad_" + pname), rtol, fmt::format("{} grad_{}", name, pname));
  }
}

}  // namespace

TEST_CASE("layers match PyTorch goldens in float32 and float64", "[golden][layers]") {
  const nlohmann::json manifest = load_manifest();
  REQUIRE(manifest["cases"].size() >= 20);
  for (const auto& c : manifest["cases"]) {
    check_case(c, DType::f32, 1e-5);
    check_case(c, DType::f64, 1e-10);
  }
}

TEST_CASE("a golden comparison fails when the layer's output holds a NaN or an infinity",
          "[golden][layers][meta]") {
  // conv2d_basic through the same path as above, then one weight set to NaN (or +inf): the
  // output's first channel is then non-finite and must not match PyTorch's finite golden.
  const nlohmann::json manifest = load_manifest();
  const nlohmann::json& c = manifest["cases"][0];
  REQUIRE(c["name"] == "conv2d_basic");
  const auto file = [&](const std::string& key) {
    return read_npy(kDir + c["files"][key].get<std::string>());
  };
  for (const double bad :
       {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    CAPTURE(bad);
    Rng rng(1);
    std::unique_ptr<Module> layer =
        make_layer("conv2d", c["options"].get<LayerOptions>(), DType::f64, rng);
    layer->load_state_dict({{"weight", file("weight")}, {"bias", file("bias")}});
    const Tensor x = file("input").to(DType::f64);
    REQUIRE(golden_close(layer->forward_no_grad(x), file("output"), 1e-10));  // the control
    for (auto& [pname, p] : layer->named_parameters()) {
      if (pname == "weight") {
        p->data().set({0, 0, 1, 1}, bad);
      }
    }
    const Tensor y = layer->forward_no_grad(x);
    REQUIRE_FALSE(golden_close(y, file("output"), 1e-10));
    REQUIRE_FALSE(golden_close(y, file("output"), 1e30));  // no tolerance rescues it
  }
}

TEST_CASE("a golden comparison fails for an all-NaN output", "[golden][layers][meta]") {
  const Tensor want = Tensor::from_vector({2, 2}, {0.5, -1.0, 2.0, 0.0}, DType::f64);
  const Tensor nan = Tensor::full({2, 2}, std::numeric_limits<double>::quiet_NaN(), DType::f32);
  REQUIRE_FALSE(golden_close(nan, want, 1e-5));
  REQUIRE_FALSE(golden_close(want, nan.to(DType::f64), 1e-5));  // a NaN golden is no reference
  REQUIRE(golden_close(want, want, 0.0));
}
