// Checkpoints: save → load gives identical outputs and an identical continuation of training;
// a checkpoint truncated at any byte or with a corrupted header fails with an IoError and leaves
// the model and the optimizer untouched; mismatched models and optimizers name the first mismatch.
#include <fmt/format.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "autograd/ops.h"
#include "core/error.h"
#include "core/random.h"
#include "core/safetensors.h"
#include "core/tensor_math.h"
#include "layers/norm/batch_norm.h"
#include "layers/optim/adam.h"
#include "layers/optim/sgd.h"
#include "tests/temp_dir.h"
#include "tools/checkpoint.h"

using namespace normlab;
using normlab::testing::TempDir;
namespace fs = std::filesystem;

namespace {

// y = BatchNorm(x · W): a parameter of its own, a child with parameters and buffers.
class TinyNet final : public Module {
 public:
  TinyNet(std::int64_t features, std::uint64_t seed) : bn_(features) {
    Rng rng(seed);
    weight_ = Variable(randn({3, features}, DType::f32, rng), true);
    register_parameter("weight", &weight_);
    register_module("bn", &bn_);
  }
  Variable forward(const Variable& x) override { return bn_.forward(matmul(x, weight_)); }
  std::string type_name() const override { return "TinyNet"; }

 private:
  Variable weight_;
  BatchNorm bn_;
};

// Only TinyNet's own weight, without the BatchNorm child.
class WeightOnly final : public Module {
 public:
  WeightOnly() : weight_(Tensor::zeros({3, 4}), true) { register_parameter("weight", &weight_); }
  Variable forward(const Variable& x) override { return matmul(x, weight_); }
  std::string type_name() const override { return "WeightOnly"; }

 private:
  Variable weight_;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Removes the old file first: rewriting a truncated file in place makes ext4 flush it to disk
// (auto_da_alloc), which costs milliseconds per call in the byte-by-byte loops below.
void write_file(const std::string& path, std::string_view bytes) {
  fs::remove(path);
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// One training step on a fixed batch with a random-projection loss.
void train_step(Module& model, Optimizer& opt, std::uint64_t seed) {
  Rng rng(seed);
  const Variable x(randn({6, 3}, DType::f32, rng));
  const Variable w(randn({6, 4}, DType::f32, rng));
  opt.zero_grad();
  sum(mul(model.forward(x), w)).backward();
  opt.step();
}

// A checkpoint at path of model and opt one training step in (seed 100), holding `state`.
void save_after_a_step(const std::string& path, Module& model, Optimizer& opt,
                       const TrainingState& state) {
  train_step(model, opt, 100);
  save_checkpoint(path, model, opt, state);
}

std::map<std::string, Tensor> deep_copy(const std::map<std::string, Tensor>& m) {
  std::map<std::string, Tensor> out;
  for (const auto& [name, t] : m) {
    out[name] = t.clone();
  }
  return out;
}

bool same(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (const auto& [name, t] : a) {
    const auto it = b.find(name);
    if (it == b.end() || it->second.shape() != t.shape() || it->second.dtype() != t.dtype() ||
        (t.numel() > 0 && max_abs_diff(it->second, t) != 0.0)) {
      return false;
    }
  }
  return true;
}

std::vector<OptimParam> groups(Module& m) {
  return param_groups(m.named_parameters(), is_one_dim);
}

AdamOptions adam_options() {
  return {.lr = 0.01, .weight_decay = 0.1};
}

TrainingState sample_state() {
  Rng loader(7);
  loader.normal();  // a spare normal in the state too
  return {.epoch = 3,
          .step = 17,
          .best_test_accuracy = 0.1 + 0.2,  // 0.30000000000000004: needs all 17 digits
          .rng_states = {{"init", Rng(1).state()}, {"loader", loader.state()}},
          .config_json = R"({"model": "tiny", "lr": 0.01, "norm": "bn"})"};
}

}  // namespace

TEST_CASE("checkpoint round trip: same outputs, same state, same continuation", "[checkpoint]") {
  TempDir dir("roundtrip");
  TinyNet model(4, 1);
  AdamW opt(groups(model), adam_options());
  train_step(model, opt, 100);
  train_step(model, opt, 101);
  const TrainingState saved = sample_state();
  save_checkpoint(dir.file("run.ckpt"), model, opt, saved);

  TinyNet resumed(4, 2);  // different initial weights
  AdamW resumed_opt(groups(resumed), adam_options());
  const TrainingState loaded = load_checkpoint(dir.file("run.ckpt"), resumed, resumed_opt);
  CHECK(loaded.epoch == 3);
  CHECK(loaded.step == 17);
  CHECK(loaded.best_test_accuracy == saved.best_test_accuracy);
  CHECK(loaded.config_json == saved.config_json);
  REQUIRE(loaded.rng_states == saved.rng_states);
  Rng a(0);
  a.set_state(loaded.rng_states.at("loader"));
  Rng b(7);
  b.normal();
  CHECK(a.normal() == b.normal());

  REQUIRE(same(resumed.state_dict(), model.state_dict()));
  REQUIRE(same(resumed_opt.state_dict(), opt.state_dict()));
  REQUIRE(opt.state_dict().count("optim.bn.weight.exp_avg_sq") == 1);
  Rng rng(5);
  const Tensor x = randn({5, 3}, DType::f32, rng);
  model.eval();
  resumed.eval();
  REQUIRE(max_abs_diff(model.forward_no_grad(x), resumed.forward_no_grad(x)) == 0.0);
  // Training goes on exactly as if it had never stopped.
  model.train();
  resumed.train();
  train_step(model, opt, 102);
  train_step(resumed, resumed_opt, 102);
  REQUIRE(same(resumed.state_dict(), model.state_dict()));
}

TEST_CASE("checkpoint weights are a plain safetensors file with PyTorch names", "[checkpoint]") {
  TempDir dir("names");
  TinyNet model(4, 1);
  SGD opt(groups(model), {.lr = 0.1, .momentum = 0.9});
  save_after_a_step(dir.file("run.ckpt"), model, opt, {});
  const Safetensors f = read_safetensors(dir.file("run.ckpt"));
  for (const char* name : {"weight", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
                           "bn.num_batches_tracked", "optim.weight.momentum_buffer",
                           "optim.bn.bias.momentum_buffer"}) {
    CAPTURE(name);
    CHECK(f.tensors.count(name) == 1);
  }
  CHECK(f.metadata.at("optimizer") == "SGD");
  CHECK(f.metadata.at("config") == "{}");
}

TEST_CASE("a checkpoint truncated at any byte fails and changes nothing", "[checkpoint][errors]") {
  TempDir dir("truncate");
  TinyNet model(4, 1);
  AdamW opt(groups(model), adam_options());
  save_after_a_step(dir.file("good.ckpt"), model, opt, sample_state());
  const std::string bytes = read_file(dir.file("good.ckpt"));

  TinyNet target(4, 2);
  AdamW target_opt(groups(target), adam_options());
  train_step(target, target_opt, 200);
  const auto model_before = deep_copy(target.state_dict());
  const auto opt_before = deep_copy(target_opt.state_dict());
  const std::string bad = dir.file("bad.ckpt");
  auto require_rejected = [&](std::string_view contents) {
    write_file(bad, contents);
    REQUIRE_THROWS_AS(load_checkpoint(bad, target, target_opt), IoError);
  };
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    CAPTURE(cut, bytes.size());
    require_rejected(std::string_view(bytes).substr(0, cut));
  }
  // Corrupted headers: every length bit pattern nearby, every header byte replaced by a control
  // character (invalid anywhere in JSON), and the first data byte shifted into the header.
  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  for (std::size_t i = 0; i < 8; ++i) {
    for (const int flip : {0x01, 0x10, 0x80}) {
      CAPTURE(i, flip);
      std::string corrupt = bytes;
      corrupt[i] = static_cast<char>(corrupt[i] ^ flip);
      require_rejected(corrupt);
    }
  }
  for (std::size_t i = 8; i < 8 + n; ++i) {
    CAPTURE(i);
    std::string corrupt = bytes;
    corrupt[i] = '\x01';
    require_rejected(corrupt);
  }
  REQUIRE(same(target.state_dict(), model_before));
  REQUIRE(same(target_opt.state_dict(), opt_before));
  // The good file still loads into the same objects.
  load_checkpoint(dir.file("good.ckpt"), target, target_opt);
  REQUIRE(same(target.state_dict(), model.state_dict()));
}

TEST_CASE("checkpoint mismatches name the first mismatching tensor", "[checkpoint][errors]") {
  TempDir dir("mismatch");
  TinyNet model(4, 1);
  Adam opt(groups(model), adam_options());
  save_after_a_step(dir.file("run.ckpt"), model, opt, sample_state());
  using Catch::Matchers::Contains;

  SECTION("a model of another width") {
    TinyNet other(5, 2);
    Adam other_opt(param_groups(other.named_parameters()), adam_options());
    const auto before = deep_copy(other.state_dict());
    REQUIRE_THROWS_WITH(load_checkpoint(dir.file("run.ckpt"), other, other_opt),
                        Contains("run.ckpt") && Contains("'weight' has shape [3, 4]") &&
                            Contains("expects [3, 5]"));
    REQUIRE(same(other.state_dict(), before));
    REQUIRE(other_opt.state_dict().empty());
  }
  SECTION("a model with fewer or more tensors") {
    WeightOnly smaller;
    Adam smaller_opt(groups(smaller), adam_options());
    REQUIRE_THROWS_WITH(load_checkpoint(dir.file("run.ckpt"), smaller, smaller_opt),
                        Contains("unexpected 'bn."));
    save_checkpoint(dir.file("small.ckpt"), smaller, smaller_opt, {});
    TinyNet larger(4, 2);
    Adam larger_opt(groups(larger), adam_options());
    REQUIRE_THROWS_WITH(load_checkpoint(dir.file("small.ckpt"), larger, larger_opt),
                        Contains("missing 'bn.weight'"));
  }
  SECTION("an optimizer of another kind or with other options") {
    TinyNet other(4, 2);
    const auto before = deep_copy(other.state_dict());
    SGD sgd(groups(other), {.lr = 0.1});
    REQUIRE_THROWS_WITH(load_checkpoint(dir.file("run.ckpt"), other, sgd),
                        Contains("holds Adam state but the optimizer is SGD"));
    Adam amsgrad(groups(other), {.lr = 0.01, .amsgrad = true});
    REQUIRE_THROWS_WITH(load_checkpoint(dir.file("run.ckpt"), other, amsgrad),
                        Contains("optim.weight.max_exp_avg_sq"));
    REQUIRE(same(other.state_dict(), before));
  }
  SECTION("a safetensors file that is not a normlab checkpoint") {
    write_safetensors(dir.file("plain.safetensors"), model.state_dict(), {{"format", "pt"}});
    REQUIRE_THROWS_WITH(load_checkpoint(dir.file("plain.safetensors"), model, opt),
                        Contains("not a normlab checkpoint"));
  }
  SECTION("metadata that does not parse") {
    TensorMap tensors = model.state_dict();
    tensors.merge(opt.state_dict());
    MetadataMap meta = {{"normlab.checkpoint", "1"},
                        {"epoch", "3"},
                        {"step", "x"},
                        {"optimizer", "Adam"},
                        {"config", "{}"}};
    write_safetensors(dir.file("meta.ckpt"), tensors, meta);
    REQUIRE_THROWS_WITH(load_checkpoint(dir.file("meta.ckpt"), model, opt),
                        Contains("'step' = 'x'"));
    meta["step"] = "4";
    write_safetensors(dir.file("meta.ckpt"), tensors, meta);
    REQUIRE(load_checkpoint(dir.file("meta.ckpt"), model, opt).best_test_accuracy == 0.0);
    meta["best_test_accuracy"] = "1.25";
    write_safetensors(dir.file("meta.ckpt"), tensors, meta);
    REQUIRE_THROWS_WITH(load_checkpoint(dir.file("meta.ckpt"), model, opt),
                        Contains("'best_test_accuracy' = '1.25'"));
    meta["best_test_accuracy"] = "0.5";
    meta["rng.loader"] = "not a state";
    write_safetensors(dir.file("meta.ckpt"), tensors, meta);
    REQUIRE_THROWS_WITH(load_checkpoint(dir.file("meta.ckpt"), model, opt),
                        Contains("'rng.loader'"));
  }
}

TEST_CASE("save_checkpoint rejects bad input and keeps the old file", "[checkpoint][errors]") {
  TempDir dir("save");
  TinyNet model(4, 1);
  SGD opt(groups(model), {.lr = 0.1});
  save_checkpoint(dir.file("run.ckpt"), model, opt, {.epoch = 1});
  TrainingState bad_config;
  bad_config.config_json = "{lr: 0.1";
  REQUIRE_THROWS_AS(save_checkpoint(dir.file("run.ckpt"), model, opt, bad_config), ValueError);
  REQUIRE_THROWS_AS(save_checkpoint(dir.file("run.ckpt"), model, opt, {.epoch = -1}), ValueError);
  REQUIRE_THROWS_WITH(
      save_checkpoint(dir.file("run.ckpt"), model, opt, {.best_test_accuracy = 1.5}),
      Catch::Contains("best test accuracy 1.5"));
  REQUIRE_THROWS_AS(save_checkpoint(dir.file("no/dir/run.ckpt"), model, opt, {}), IoError);
  REQUIRE(load_checkpoint(dir.file("run.ckpt"), model, opt).epoch == 1);
}
