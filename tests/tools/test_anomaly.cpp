// --detect-anomaly (tools/anomaly.h): the first non-finite value of a forward output or of a
// backward gradient is reported by module name, type, op, pass and step; a clean step passes and
// its gradients are exactly those without the detector.
#include <catch2/catch.hpp>
#include <limits>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "core/random.h"
#include "core/rng.h"
#include "core/tensor_math.h"
#include "layers/linear.h"
#include "layers/sequential.h"
#include "models/network.h"
#include "tools/anomaly.h"

using namespace normlab;
using Catch::Contains;

namespace {

// y = √x: finite at x = 0, where its gradient 1/(2√x) is not.
class Sqrt final : public Module {
 public:
  Variable forward(const Variable& x) override { return sqrt(x); }
  std::string type_name() const override { return "Sqrt"; }
};

// model: features = Sequential(Linear(4, 3), Sqrt), classifier = Linear(3, 2).
std::unique_ptr<Network> make_net() {
  Rng rng(5);
  auto features = std::make_unique<Sequential>();
  features->emplace<Linear>(4, 3, rng, LinearOptions{.dtype = DType::f64});
  features->emplace<Sqrt>();
  auto net = std::make_unique<Network>("TestNet");
  net->add("features", std::move(features));
  net->add("classifier", std::make_unique<Linear>(3, 2, rng, LinearOptions{.dtype = DType::f64}));
  return net;
}

void set_parameter(Module& m, const std::string& name, double value) {
  for (auto& [pname, p] : m.named_parameters()) {
    if (pname == name) {
      p->data().fill_(value);
    }
  }
}

Variable loss_of(Module& net, const Tensor& x) {
  return sum(net.forward(Variable(x)));
}

}  // namespace

TEST_CASE("anomaly: a clean step passes and leaves the gradients unchanged", "[anomaly]") {
  Rng rng(1);
  const Tensor x = rand_uniform({5, 4}, DType::f64, rng, 0.5, 1.0);
  auto plain = make_net();
  auto watched = make_net();
  set_parameter(*plain, "features.0.bias", 3.0);  // √ of a positive input
  set_parameter(*watched, "features.0.bias", 3.0);
  loss_of(*plain, x).backward();
  {
    AnomalyDetector detector(*watched);
    detector.start_step(0);
    const Variable loss = loss_of(*watched, x);
    detector.check_forward(loss.data(), "the loss", "sum");
    run_backward(loss, Tensor(), false, &detector.backward_observer());
  }
  const auto a = plain->named_parameters(), b = watched->named_parameters();
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CAPTURE(a[i].first);
    REQUIRE(max_abs_diff(a[i].second->grad(), b[i].second->grad()) == 0.0);
  }
}

TEST_CASE("anomaly: a NaN weight is reported at the module whose output it spoils", "[anomaly]") {
  Rng rng(2);
  const Tensor x = rand_uniform({5, 4}, DType::f64, rng, 0.5, 1.0);
  auto net = make_net();
  set_parameter(*net, "features.0.bias", 3.0);
  set_parameter(*net, "classifier.weight", std::numeric_limits<double>::quiet_NaN());
  AnomalyDetector detector(*net);
  detector.start_step(7);
  REQUIRE_THROWS_WITH(loss_of(*net, x), Contains("non-finite output (nan at [0, 0])") &&
                                            Contains("of classifier (Linear)") &&
                                            Contains("op linear") &&
                                            Contains("forward pass, step 7"));
}

TEST_CASE("anomaly: an infinite gradient is reported at the op and module that produced it",
          "[anomaly]") {
  // Zero weights and biases: features.0 outputs 0, √0 = 0 is finite, its gradient is not.
  Rng rng(3);
  const Tensor x = rand_uniform({5, 4}, DType::f64, rng, 0.5, 1.0);
  auto net = make_net();
  set_parameter(*net, "features.0.weight", 0.0);
  set_parameter(*net, "features.0.bias", 0.0);
  AnomalyDetector detector(*net);
  detector.start_step(12);
  const Variable loss = loss_of(*net, x);
  REQUIRE(std::isfinite(loss.data().item()));
  REQUIRE_THROWS_WITH(run_backward(loss, Tensor(), false, &detector.backward_observer()),
                      Contains("non-finite gradient") && Contains("in features.1 (Sqrt)") &&
                          Contains("op sqrt") && Contains("backward pass, step 12"));
}

TEST_CASE("anomaly: the detector uninstalls itself", "[anomaly]") {
  Rng rng(4);
  const Tensor x = rand_uniform({2, 4}, DType::f64, rng, 0.5, 1.0);
  auto net = make_net();
  set_parameter(*net, "classifier.bias", std::numeric_limits<double>::infinity());
  {
    AnomalyDetector detector(*net);
    REQUIRE_THROWS_AS(loss_of(*net, x), ValueError);
  }
  REQUIRE_NOTHROW(loss_of(*net, x));  // no observer left behind
}

TEST_CASE("first_non_finite names the value and its index", "[anomaly]") {
  Tensor t = Tensor::zeros({2, 3}, DType::f32);
  REQUIRE(first_non_finite(t).empty());
  t.set({1, 2}, -std::numeric_limits<double>::infinity());
  REQUIRE(first_non_finite(t) == "-inf at [1, 2]");
}
