// tests/models/test_twin_export.cpp: writes, for every model × norm, what tools/check_twin.py
// compares with the PyTorch twin (tools/torch_models.py), into
//   <temp dir>/normlab_twin_export/<model>_<norm>.safetensors   state_dict + __metadata__ config
//   <model>_<norm>.inputs.npy  .logits.npy  .train_logits.npy   x, eval logits, training logits
// after two training steps (so the running statistics are not their initial values) and a
// perturbation of every γ, β and bias. This test needs no Python: it checks that the checkpoint
// round-trips into a fresh model with the same logits. Then, by hand:
//   /usr/bin/python3 tools/check_twin.py --dir /tmp/normlab_twin_export
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "core/npy.h"
#include "core/safetensors.h"
#include "core/tensor_math.h"
#include "model_test_util.h"
#include "models/model.h"

namespace normlab {
namespace {

// The keys of tools/train_config.cpp's JSON that tools/check_twin.py reads, plus in_channels.
std::string config_json(ModelKind kind, const ModelOptions& o) {
  return fmt::format(
      R"({{"model": "{}", "norm": "{}", "num_groups": {}, "norm_eps": {}, "in_channels": {}, )"
      R"("image_size": {}, "num_classes": {}, "width": {}}})",
      model_kind_name(kind), norm_kind_name(o.norm), o.norm_options.num_groups, o.norm_options.eps,
      o.in_channels, o.image_size, o.num_classes, o.width);
}

TEST_CASE("models export checkpoints, inputs and logits for the PyTorch twin check",
          "[model][twin]") {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "normlab_twin_export";
  std::filesystem::create_directories(dir);
  const ModelKind kind = GENERATE(ModelKind::tiny, ModelKind::vgg, ModelKind::resnet20);
  const NormKind norm = GENERATE(from_range(all_norm_kinds().begin(), all_norm_kinds().end()));
  CAPTURE(test::case_name(kind, norm));
  const ModelOptions o = test::run_options(kind, norm);
  Rng rng(16);
  auto model = make_model(kind, o, rng);

  // Two training steps' worth of statistics, then γ, β and biases away from 1 and 0.
  for (int step = 0; step < 2; ++step) {
    model->forward(Variable(test::model_input(o, 4, rng)));
  }
  for (auto& [name, p] : model->named_parameters()) {
    if (p->shape().size() == 1) {
      add_(p->data(), randn(p->shape(), p->dtype(), rng), 0.2);
    }
  }
  StateDict state;
  for (const auto& [name, t] : model->state_dict()) {
    state[name] = t.clone();
  }
  const Tensor x = test::model_input(o, 4, rng);
  model->eval();
  const Tensor logits = model->forward_no_grad(x);
  model->train();
  const Tensor train_logits = model->forward(Variable(x)).data();

  const std::string stem =
      (dir / fmt::format("{}_{}", model_kind_name(kind), norm_kind_name(norm))).string();
  write_safetensors(stem + ".safetensors", state, {{"config", config_json(kind, o)}});
  write_npy(stem + ".inputs.npy", x);
  write_npy(stem + ".logits.npy", logits);
  write_npy(stem + ".train_logits.npy", train_logits);

  // The checkpoint loads strictly into a differently seeded model and reproduces the logits.
  const Safetensors file = read_safetensors(stem + ".safetensors");
  REQUIRE(file.metadata.at("config") == config_json(kind, o));
  Rng other(17);
  auto fresh = make_model(kind, o, other);
  fresh->load_state_dict(file.tensors, true);
  fresh->eval();
  REQUIRE(max_abs_diff(fresh->forward_no_grad(read_npy(stem + ".inputs.npy")), logits) == 0.0);
  REQUIRE(max_abs_diff(read_npy(stem + ".logits.npy"), logits) == 0.0);
}

}  // namespace
}  // namespace normlab
