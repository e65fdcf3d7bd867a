// tests/models/test_network.cpp: Network, the named sequential container of the models.
#include <catch2/catch.hpp>
#include <memory>

#include "core/error.h"
#include "core/random.h"
#include "core/tensor_math.h"
#include "layers/activation.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "models/network.h"

namespace normlab {
namespace {

TEST_CASE("network runs its named children in order, in forward and forward_no_grad", "[network]") {
  Rng rng(20);
  Network net("Net");
  net.add("flatten", std::make_unique<Flatten>());
  net.add("fc", std::make_unique<Linear>(6, 3, rng));
  net.add("act", std::make_unique<ReLU>());
  REQUIRE(net.size() == 3);
  REQUIRE(net.type_name() == "Net");
  REQUIRE(net.state_dict().count("fc.weight") == 1);
  REQUIRE(&net.child("fc") == net.named_children()[1].second);

  const Tensor x = randn({4, 2, 3}, DType::f32, rng);
  auto& fc = dynamic_cast<Linear&>(net.child("fc"));
  // y = relu(flatten(x)·Wᵀ + b), by hand through the layers
  const Tensor want = ReLU().forward_no_grad(fc.forward_no_grad(x.reshape({4, 6})));
  REQUIRE(max_abs_diff(net.forward_no_grad(x), want) == 0.0);
  REQUIRE(max_abs_diff(net.forward(Variable(x)).data(), want) == 0.0);
}

TEST_CASE("network rejects null layers, bad and repeated names", "[network][errors]") {
  Network net("Net");
  net.add("a", std::make_unique<Identity>());
  REQUIRE_THROWS_WITH(net.add("b", nullptr), Catch::Matchers::Contains("'b' is null"));
  REQUIRE_THROWS_WITH(net.add("a", std::make_unique<Identity>()),
                      Catch::Matchers::Contains("already named 'a'"));
  REQUIRE_THROWS_AS(net.add("", std::make_unique<Identity>()), ValueError);
  REQUIRE_THROWS_AS(net.add("x.y", std::make_unique<Identity>()), ValueError);
  REQUIRE_THROWS_WITH(net.child("z"), Catch::Matchers::Contains("no child named 'z'") &&
                                          Catch::Matchers::Contains("children: a"));
  REQUIRE(net.size() == 1);
}

}  // namespace
}  // namespace normlab
