// normlab probe as a function (tools/probe.h): hand-computed results for linear and batch_norm
// (train and eval, loaded state), the default upstream gradient, nested names, every layer of the
// table through the Variable path in both dtypes, and the errors that name the file and the shapes.
#include <fmt/format.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "core/error.h"
#include "core/npy.h"
#include "core/random.h"
#include "core/tensor_math.h"
#include "layers/layer_table.h"
#include "tests/temp_dir.h"
#include "tools/probe.h"

using namespace normlab;
using Catch::Contains;
using normlab::testing::TempDir;
namespace fs = std::filesystem;

namespace {

using Arrays = std::vector<std::pair<std::string, Tensor>>;

std::vector<std::string> names_of(const Arrays& arrays) {
  std::vector<std::string> names;
  for (const auto& [name, t] : arrays) {
    names.push_back(name);
  }
  return names;
}

const Tensor& get(const Arrays& arrays, const std::string& name) {
  for (const auto& [n, t] : arrays) {
    if (n == name) {
      return t;
    }
  }
  FAIL("no array named " << name);
  return arrays.front().second;
}

void require_values(const Tensor& t, const Shape& shape, const std::vector<double>& want,
                    double tol = 1e-12) {
  INFO("got " << t.to_string());
  REQUIRE(t.shape() == shape);
  REQUIRE(allclose(t.to(DType::f64), Tensor::from_vector(shape, want, DType::f64), 0.0, tol));
}

ProbeArray array(const Shape& shape, const std::vector<double>& values, DType dtype = DType::f64) {
  return {"test.npy", Tensor::from_vector(shape, values, dtype)};
}

ProbeRequest request(std::string layer, LayerOptions options, ProbeArray input) {
  ProbeRequest r;
  r.layer = std::move(layer);
  r.options = std::move(options);
  r.input = std::move(input);
  return r;
}

}  // namespace

TEST_CASE("probe of linear with loaded weights: y = x Wᵀ + b, dx = dy W, dW = dyᵀ x, db = Σ dy",
          "[probe]") {
  ProbeRequest r = request("linear", {{"in_features", "3"}, {"out_features", "2"}},
                           array({2, 3}, {1, 2, 3, 4, 5, 6}));
  r.grad_output = array({2, 2}, {1, 2, 3, -1});
  r.state["weight"] = array({2, 3}, {1, 0, -1, 2, 1, 0});
  r.state["bias"] = array({2}, {0.5, -1});
  const Arrays out = run_probe(r);
  REQUIRE(names_of(out) ==
          std::vector<std::string>{"output", "grad_input", "grad_weight", "grad_bias"});
  require_values(get(out, "output"), {2, 2}, {-1.5, 3, -1.5, 12});
  require_values(get(out, "grad_input"), {2, 3}, {5, 2, -1, 1, -1, -3});
  require_values(get(out, "grad_weight"), {2, 3}, {13, 17, 21, -2, -1, 0});
  require_values(get(out, "grad_bias"), {2}, {4, 1});
  REQUIRE(get(out, "output").dtype() == DType::f64);
}

TEST_CASE("probe of batch_norm in training returns the updated running statistics", "[probe]") {
  // x (2, 2): channel 0 = {1, 3} (μ 2, σ² 1, unbiased 2), channel 1 = {0, 4} (μ 2, σ² 4, unb. 8).
  ProbeRequest r = request("batch_norm", {{"num_features", "2"}}, array({2, 2}, {1, 0, 3, 4}));
  const double eps = 1e-5;
  SECTION("default running statistics (0 and 1)") {
    const Arrays out = run_probe(r);
    REQUIRE(names_of(out) == std::vector<std::string>{"output", "grad_input", "grad_weight",
                                                      "grad_bias", "running_mean", "running_var",
                                                      "num_batches_tracked"});
    const double a = 1 / std::sqrt(1 + eps), b = 2 / std::sqrt(4 + eps);
    require_values(get(out, "output"), {2, 2}, {-a, -b, a, b});
    require_values(get(out, "grad_input"), {2, 2}, {0, 0, 0, 0});  // dy = 1: Σ g and Σ g·x̂ cancel
    require_values(get(out, "grad_weight"), {2}, {0, 0});
    require_values(get(out, "grad_bias"), {2}, {2, 2});
    require_values(get(out, "running_mean"), {2}, {0.2, 0.2});
    require_values(get(out, "running_var"), {2}, {0.9 + 0.2, 0.9 + 0.8});
    REQUIRE(get(out, "num_batches_tracked").item() == 1);
  }
  SECTION("loaded running statistics and momentum") {
    r.options["momentum"] = "0.5";
    r.state["running_mean"] = array({2}, {1, -2});
    r.state["num_batches_tracked"] = {"n.npy", Tensor::scalar(4, DType::f64)};
    const Arrays out = run_probe(r);
    require_values(get(out, "running_mean"), {2}, {1.5, 0});
    require_values(get(out, "running_var"), {2}, {1.5, 4.5});
    REQUIRE(get(out, "num_batches_tracked").item() == 5);
  }
}

TEST_CASE("probe in eval mode normalizes with the loaded running statistics", "[probe]") {
  // eps = 1e-12: σ is 2 and 0.5 to 1e-13, so the hand values below hold to 1e-9.
  ProbeRequest r =
      request("batch_norm", {{"num_features", "2"}, {"eps", "1e-12"}}, array({2, 2}, {1, 0, 3, 4}));
  r.train = false;
  r.state["running_mean"] = array({2}, {1, -1});
  r.state["running_var"] = array({2}, {4, 0.25});
  r.state["weight"] = array({2}, {2, 1});
  r.state["bias"] = array({2}, {0, 1});
  r.grad_output = array({2, 2}, {1, 1, 1, -1});
  const Arrays out = run_probe(r);
  require_values(get(out, "output"), {2, 2}, {0, 3, 2, 11}, 1e-9);      // γ (x − μ)/σ + β
  require_values(get(out, "grad_input"), {2, 2}, {1, 2, 1, -2}, 1e-9);  // γ/σ · dy
  require_values(get(out, "grad_weight"), {2}, {1, 2 - 10}, 1e-9);      // Σ dy · x̂
  require_values(get(out, "grad_bias"), {2}, {2, 0}, 1e-9);
  require_values(get(out, "running_mean"), {2}, {1, -1}, 1e-9);  // unchanged in eval
  require_values(get(out, "running_var"), {2}, {4, 0.25}, 1e-9);
  REQUIRE(get(out, "num_batches_tracked").item() == 0);
}

TEST_CASE("probe without a grad_output backpropagates ones", "[probe]") {
  const Arrays out = run_probe(request("relu", {}, array({4}, {-1, 2, -3, 4}, DType::f32)));
  REQUIRE(names_of(out) == std::vector<std::string>{"output", "grad_input"});
  require_values(get(out, "output"), {4}, {0, 2, 0, 4});
  require_values(get(out, "grad_input"), {4}, {0, 1, 0, 1});
  REQUIRE(get(out, "grad_input").dtype() == DType::f32);
}

TEST_CASE("probe names the state of nested layers by their hierarchical names", "[probe]") {
  Rng rng(3);
  const Arrays out =
      run_probe(request("batch_channel_norm", {{"num_channels", "4"}, {"num_groups", "2"}},
                        {"x.npy", randn({2, 4, 3, 3}, DType::f64, rng)}));
  REQUIRE(names_of(out) ==
          std::vector<std::string>{"output", "grad_input", "grad_batch_norm.weight",
                                   "grad_batch_norm.bias", "grad_channel_norm.weight",
                                   "grad_channel_norm.bias", "batch_norm.running_mean",
                                   "batch_norm.running_var"});
  REQUIRE(get(out, "grad_channel_norm.weight").shape() == Shape{2});
}

TEST_CASE("probe runs every layer of the table forward and backward in both dtypes", "[probe]") {
  const std::map<std::string_view, std::pair<LayerOptions, Shape>> cases{
      {"linear", {{{"in_features", "4"}, {"out_features", "3"}}, {2, 4}}},
      {"conv2d",
       {{{"in_channels", "2"}, {"out_channels", "3"}, {"kernel_size", "3"}, {"padding", "1"}},
        {2, 2, 5, 5}}},
      {"max_pool2d", {{{"kernel_size", "2"}}, {2, 2, 4, 4}}},
      {"avg_pool2d", {{{"kernel_size", "2"}}, {2, 2, 4, 4}}},
      {"global_avg_pool2d", {{}, {2, 2, 4, 4}}},
      {"relu", {{}, {2, 3}}},
      {"leaky_relu", {{{"negative_slope", "0.2"}}, {2, 3}}},
      {"gelu", {{}, {2, 3}}},
      {"dropout", {{{"p", "0.5"}}, {2, 3}}},
      {"flatten", {{}, {2, 2, 4, 4}}},
      {"identity", {{}, {2, 3}}},
      {"batch_norm", {{{"num_features", "2"}}, {3, 2, 4, 4}}},
      {"layer_norm", {{{"normalized_shape", "2x4x4"}}, {3, 2, 4, 4}}},
      {"instance_norm", {{{"num_features", "2"}, {"affine", "true"}}, {3, 2, 4, 4}}},
      {"group_norm", {{{"num_groups", "2"}, {"num_channels", "4"}}, {3, 4, 2, 2}}},
      {"batch_renorm", {{{"num_features", "2"}}, {3, 2, 4, 4}}},
      {"rms_norm", {{{"normalized_shape", "4"}}, {3, 2, 4}}},
      {"local_response_norm", {{{"size", "3"}}, {2, 4, 3, 3}}},
      {"batch_channel_norm", {{{"num_channels", "4"}, {"num_groups", "2"}}, {3, 4, 2, 2}}},
      {"ws_conv2d",
       {{{"in_channels", "2"}, {"out_channels", "3"}, {"kernel_size", "3"}}, {2, 2, 5, 5}}},
  };
  const DType dtype = GENERATE(DType::f32, DType::f64);
  for (const std::string_view name : layer_names()) {
    CAPTURE(name, dtype_name(dtype));
    const auto it = cases.find(name);
    REQUIRE(it != cases.end());  // a new layer of the table needs a case here
    Rng rng(7);
    ProbeRequest r = request(std::string(name), it->second.first,
                             {"x.npy", randn(it->second.second, dtype, rng)});
    const Arrays out = run_probe(r);
    REQUIRE(out.size() >= 2);
    REQUIRE(out[0].first == "output");
    REQUIRE(out[1].first == "grad_input");
    REQUIRE(out[1].second.shape() == it->second.second);
    r.grad_output = {"gy.npy", randn(out[0].second.shape(), dtype, rng)};
    for (const auto& [array_name, t] : run_probe(r)) {
      CAPTURE(array_name);
      if (is_floating(t.dtype())) {
        REQUIRE(t.dtype() == dtype);
        REQUIRE(std::isfinite(max_abs(t)));
      }
    }
  }
}

TEST_CASE("probe converts loaded state and grad_output to the input's dtype", "[probe]") {
  ProbeRequest r = request("linear", {{"in_features", "2"}, {"out_features", "1"}},
                           array({1, 2}, {1, 2}, DType::f32));
  r.state["weight"] = array({1, 2}, {3, 4}, DType::f64);
  r.grad_output = array({1, 1}, {2}, DType::f64);
  const Arrays out = run_probe(r);
  REQUIRE(get(out, "grad_weight").dtype() == DType::f32);
  require_values(get(out, "grad_input"), {1, 2}, {6, 8});
}

TEST_CASE("probe's default init follows its seed", "[probe]") {
  ProbeRequest r =
      request("linear", {{"in_features", "3"}, {"out_features", "2"}}, array({1, 3}, {1, 2, 3}));
  r.seed = 5;
  const Tensor a = get(run_probe(r), "output");
  const Tensor b = get(run_probe(r), "output");
  r.seed = 6;
  const Tensor c = get(run_probe(r), "output");
  REQUIRE(max_abs_diff(a, b) == 0);
  REQUIRE(max_abs_diff(a, c) > 0);
}

TEST_CASE("probe errors name the layer, the file and the shapes", "[probe][errors]") {
  const ProbeArray x = array({2, 3}, {1, 2, 3, 4, 5, 6});
  SECTION("unknown layer lists the table") {
    REQUIRE_THROWS_WITH(
        run_probe(request("batchnorm", {}, x)),
        Contains("unknown layer 'batchnorm'") && Contains("batch_norm") && Contains("ws_conv2d"));
  }
  SECTION("missing, unknown and bad options") {
    REQUIRE_THROWS_WITH(run_probe(request("batch_norm", {}, x)), Contains("num_features"));
    REQUIRE_THROWS_WITH(
        run_probe(request("batch_norm", {{"num_features", "3"}, {"epsilon", "1"}}, x)),
        Contains("epsilon") && Contains("momentum"));
    REQUIRE_THROWS_AS(run_probe(request("batch_norm", {{"num_features", "x"}}, x)), ValueError);
  }
  SECTION("a state file of the wrong shape") {
    ProbeRequest r = request("batch_norm", {{"num_features", "3"}}, x);
    r.state["weight"] = {"p/weight.npy", Tensor::ones({2}, DType::f64)};
    REQUIRE_THROWS_AS(run_probe(r), ShapeError);
    REQUIRE_THROWS_WITH(run_probe(r),
                        Contains("p/weight.npy") && Contains("[2]") && Contains("[3]"));
  }
  SECTION("a state file that is not a parameter or buffer") {
    ProbeRequest r = request("relu", {}, x);
    r.state["weight"] = {"p/weight.npy", Tensor::ones({3}, DType::f64)};
    REQUIRE_THROWS_WITH(run_probe(r),
                        Contains("p/weight.npy") && Contains("relu") && Contains("has none"));
    r = request("batch_norm", {{"num_features", "3"}}, x);
    r.state["gamma"] = {"p/gamma.npy", Tensor::ones({3}, DType::f64)};
    REQUIRE_THROWS_WITH(run_probe(r), Contains("p/gamma.npy") && Contains("running_var.npy"));
  }
  SECTION("a grad_output of the wrong shape or dtype") {
    ProbeRequest r = request("relu", {}, x);
    r.grad_output = {"gy.npy", Tensor::ones({3, 2}, DType::f64)};
    REQUIRE_THROWS_AS(run_probe(r), ShapeError);
    REQUIRE_THROWS_WITH(run_probe(r),
                        Contains("gy.npy") && Contains("[3, 2]") && Contains("[2, 3]"));
    r.grad_output = {"gy.npy", Tensor::ones({2, 3}, DType::i64)};
    REQUIRE_THROWS_AS(run_probe(r), DTypeError);
  }
  SECTION("an input that is not float32 or float64") {
    REQUIRE_THROWS_AS(run_probe(request("relu", {}, {"x.npy", Tensor::ones({2}, DType::i32)})),
                      DTypeError);
    REQUIRE_THROWS_WITH(run_probe(request("relu", {}, {"x.npy", Tensor::ones({2}, DType::u8)})),
                        Contains("x.npy") && Contains("float32 or float64"));
  }
  SECTION("the layer's own shape errors pass through") {
    REQUIRE_THROWS_AS(run_probe(request("batch_norm", {{"num_features", "4"}}, x)), Error);
  }
}

TEST_CASE("probe settings and mode parse as key=value and train|eval", "[probe][errors]") {
  const LayerOptions o =
      parse_probe_settings({"num_features=8", "eps=1e-3", "normalized_shape=8x4x4"});
  REQUIRE(o == LayerOptions{{"num_features", "8"}, {"eps", "1e-3"}, {"normalized_shape", "8x4x4"}});
  REQUIRE(parse_probe_settings({"momentum="}).at("momentum").empty());
  REQUIRE_THROWS_WITH(parse_probe_settings({"eps"}), Contains("key=value"));
  REQUIRE_THROWS_AS(parse_probe_settings({"=3"}), ValueError);
  REQUIRE_THROWS_WITH(parse_probe_settings({"eps=1", "eps=2"}), Contains("twice"));
  REQUIRE(parse_probe_mode("train"));
  REQUIRE_FALSE(parse_probe_mode("eval"));
  REQUIRE_THROWS_WITH(parse_probe_mode("test"), Contains("'test'") && Contains("train, eval"));
}

TEST_CASE("probe reads a parameter directory of <name>.npy files", "[probe]") {
  const TempDir dir("state");
  write_npy(dir.file("weight.npy"), Tensor::ones({3}, DType::f32));
  write_npy(dir.file("batch_norm.running_mean.npy"), Tensor::zeros({2}, DType::f64));
  const auto state = read_probe_state(dir.path().string());
  REQUIRE(state.size() == 2);
  REQUIRE(state.at("weight").file == dir.file("weight.npy"));
  REQUIRE(state.at("weight").value.shape() == Shape{3});
  REQUIRE(state.at("batch_norm.running_mean").value.dtype() == DType::f64);

  std::FILE* f = std::fopen(dir.file("notes.txt").c_str(), "w");
  REQUIRE(f != nullptr);
  std::fclose(f);
  REQUIRE_THROWS_WITH(read_probe_state(dir.path().string()), Contains("notes.txt"));
  REQUIRE_THROWS_AS(read_probe_state(dir.file("missing")), IoError);
}
