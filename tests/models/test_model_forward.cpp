// tests/models/test_model_forward.cpp: every model with every NormKind runs forward (Variable) and
// forward_no_grad (Tensor) to the same (N, classes) logits in both modes, backpropagates to every
// parameter, and works on other input sizes and in float64. The whole tiny model passes a float64
// gradcheck.
#include <catch2/catch.hpp>
#include <cmath>
#include <string>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "core/tensor_math.h"
#include "model_test_util.h"
#include "models/model.h"

namespace normlab {
namespace {

using test::model_input;
using test::small_options;

bool all_finite(const Tensor& t) {
  const Tensor d = t.to(DType::f64).contiguous();
  for (const double v : d.data<double>()) {
    if (!std::isfinite(v)) {
      return false;
    }
  }
  return true;
}

TEST_CASE(
    "every model with every norm: forward and forward_no_grad agree, gradients reach every "
    "parameter",
    "[model][forward]") {
  const ModelKind kind = GENERATE(ModelKind::tiny, ModelKind::vgg, ModelKind::resnet20);
  const NormKind norm = GENERATE(from_range(all_norm_kinds().begin(), all_norm_kinds().end()));
  CAPTURE(test::case_name(kind, norm));
  const ModelOptions o = test::run_options(kind, norm);
  Rng ra(11), rb(11);
  auto a = make_model(kind, o, ra);
  auto b = make_model(kind, o, rb);  // the same weights
  Rng rng(12);
  const Tensor x = model_input(o, 2, rng);

  // Training mode: a.forward and b.forward_no_grad see the same batch and move the same running
  // statistics.
  const Variable y = a->forward(Variable(x));
  const Tensor y_infer = b->forward_no_grad(x);
  REQUIRE(y.shape() == Shape{2, 10});
  REQUIRE(all_finite(y.data()));
  REQUIRE(allclose(y.data(), y_infer, 1e-5, 1e-6));
  const StateDict sa = a->state_dict(), sb = b->state_dict();
  for (const auto& [name, t] : sa) {
    CAPTURE(name);
    REQUIRE(allclose(t, sb.at(name), 1e-6, 1e-7));
  }

  // Backward with a random projection: every parameter gets a finite, non-zero gradient.
  const Tensor w = randn({2, 10}, DType::f32, rng);
  sum(mul(y, Variable(w))).backward();
  for (const auto& [name, p] : a->named_parameters()) {
    CAPTURE(name);
    REQUIRE(p->grad().defined());
    REQUIRE(p->grad().shape() == p->shape());
    REQUIRE(all_finite(p->grad()));
    // Batch-Channel Norm's β1 shifts a channel before the channel norm; where a group holds one
    // channel (these small models' narrow layers) the shift is removed exactly, so its true
    // gradient is 0, which the fused op computes exactly (eq. BCN15).
    const bool exact_zero = norm == NormKind::batch_channel && name.ends_with("batch_norm.bias");
    if (!exact_zero) {
      REQUIRE(max_abs(p->grad()) > 0.0);
    }
  }

  // Evaluation mode: forward and forward_no_grad give the same logits and change no buffer.
  a->eval();
  const Tensor x2 = model_input(o, 3, rng);
  const Variable y2 = a->forward(Variable(x2));
  REQUIRE(y2.shape() == Shape{3, 10});
  REQUIRE(allclose(y2.data(), a->forward_no_grad(x2), 1e-5, 1e-6));
  for (const auto& [name, t] : a->state_dict()) {
    CAPTURE(name);
    REQUIRE(max_abs_diff(t, sa.at(name)) == 0.0);
  }
}

TEST_CASE("models take other channel counts and image sizes", "[model][forward]") {
  const auto [kind, channels, size] = GENERATE(table<ModelKind, std::int64_t, std::int64_t>({
      {ModelKind::tiny, 3, 32},
      {ModelKind::tiny, 2, 5},  // 5 → 2 → 1: the last pool is an Identity
      {ModelKind::tiny, 1, 1},  // every pool is an Identity
      {ModelKind::vgg, 1, 28},  // 28 → 14 → 7 → 3 → 1 → 1
      {ModelKind::vgg, 3, 9},
      {ModelKind::resnet20, 3, 32},
      {ModelKind::resnet20, 1, 3},
  }));
  CAPTURE(model_kind_name(kind), channels, size);
  ModelOptions o = small_options(kind, NormKind::group);
  o.in_channels = channels;
  o.image_size = size;
  o.num_classes = 7;
  o.width = 0.25;
  Rng rng(13);
  auto model = make_model(kind, o, rng);
  const Tensor x = model_input(o, 2, rng);
  const Variable y = model->forward(Variable(x));
  REQUIRE(y.shape() == Shape{2, 7});
  REQUIRE(all_finite(y.data()));
  REQUIRE(allclose(y.data(), model->forward_no_grad(x), 1e-5, 1e-6));
}

TEST_CASE("norm_options.dtype sets the dtype of the whole model", "[model][dtype]") {
  const ModelKind kind = GENERATE(ModelKind::tiny, ModelKind::vgg, ModelKind::resnet20);
  CAPTURE(model_kind_name(kind));
  const ModelOptions o = small_options(kind, NormKind::batch_channel, DType::f64);
  Rng rng(14);
  auto model = make_model(kind, o, rng);
  for (const auto& [name, p] : model->named_parameters()) {
    CAPTURE(name);
    REQUIRE(p->dtype() == DType::f64);
  }
  for (const auto& [name, t] : model->named_buffers()) {
    CAPTURE(name);
    REQUIRE((t->dtype() == DType::f64 || name.ends_with("num_batches_tracked")));
  }
  const Tensor y = model->forward_no_grad(model_input(o, 2, rng));
  REQUIRE(y.dtype() == DType::f64);
}

// The whole tiny model, input gradient against central differences in float64. Momentum 0 keeps
// the running statistics fixed, so every evaluation of the loss is the same function (the
// estimated batch norm of batch_channel normalizes with them even in training). Batch
// Renormalization is checked in evaluation mode: in training its r and d depend on the batch but
// are held constant in backward by design (stop-gradient), which finite differences do not know.
TEST_CASE("tiny model input gradient matches central differences in float64",
          "[model][tiny][gradcheck]") {
  const NormKind norm = GENERATE(from_range(all_norm_kinds().begin(), all_norm_kinds().end()));
  CAPTURE(norm_kind_name(norm));
  ModelOptions o = small_options(ModelKind::tiny, norm, DType::f64);
  o.image_size = 8;  // 8 → 4 → 2 → 1
  o.width = 0.125;   // 4, 8, 16 channels
  o.norm_options.num_groups = 2;
  o.norm_options.momentum = norm == NormKind::batch_renorm ? 0.5 : 0.0;
  Rng rng(15);
  auto model = make_model(ModelKind::tiny, o, rng);
  if (norm == NormKind::batch_renorm) {
    model->forward(Variable(model_input(o, 4, rng)));  // non-trivial running statistics first
    model->eval();
  }
  auto f = [&](const std::vector<Variable>& in) { return model->forward(in[0]); };
  const Variable x(model_input(o, 2, rng), true);
  const GradcheckReport r = gradcheck(f, {x}, {.step = 1e-6, .atol = 1e-7, .rtol = 1e-5});
  INFO(r.worst());
  REQUIRE(r.ok());
}

}  // namespace
}  // namespace normlab
