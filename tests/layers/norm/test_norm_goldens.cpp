// PyTorch goldens (tools/gen_norm_goldens.py, torch 1.13) for every normalization layer, in float32
// and float64: forward output, gradients of x and of the parameters, and running statistics after
// three training steps.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/npy.h"
#include "core/tensor_math.h"
#include "layers/norm/batch_channel_norm.h"
#include "layers/norm/batch_norm.h"
#include "layers/norm/batch_renorm.h"
#include "layers/norm/group_norm.h"
#include "layers/norm/instance_norm.h"
#include "layers/norm/layer_norm.h"
#include "layers/norm/local_response_norm.h"
#include "layers/norm/rms_norm.h"

using namespace normlab;

namespace {

Tensor golden(const std::string& name, DType dtype) {
  return read_npy(NORMLAB_SOURCE_DIR "/tests/golden/norm/" + name + ".npy").to(dtype);
}

std::string tag(DType dtype) {
  return dtype == DType::f64 ? "f64" : "f32";
}

// float64 agrees with PyTorch to rounding; float32 to float32 accumulation differences.
void require_close(const std::string& what, const Tensor& got, const Tensor& want) {
  const double tol = got.dtype() == DType::f64 ? 1e-10 : 2e-5;
  const double err = max_abs_diff(got.to(DType::f64), want.to(DType::f64));
  INFO(what << ": max |normlab − torch| = " << err << " (scale " << max_abs(want) << ")");
  REQUIRE(err <= tol * (1.0 + max_abs(want)));
}

using Params = std::vector<std::pair<std::string, Variable*>>;

// Loads the case's parameters, runs f on the golden x and backward with the golden dy, and compares
// y, dx and every parameter's gradient with PyTorch's.
void check_case(const std::string& c, DType dtype, const Params& params,
                const std::function<Variable(const Variable&)>& f, const Tensor& x_in = {}) {
  for (const auto& [name, p] : params) {
    p->data().copy_(golden(fmt::format("{}.{}", c, name), dtype));
    p->zero_grad();
  }
  const Variable x(x_in.defined() ? x_in : golden(c + ".x", dtype), true);
  const Variable y = f(x);
  require_close(c + " y", y.data(), golden(c + ".y." + tag(dtype), dtype));
  y.backward(golden(c + ".dy", dtype));
  require_close(c + " dx", x.grad(), golden(c + ".dx." + tag(dtype), dtype));
  for (const auto& [name, p] : params) {
    require_close(fmt::format("{} d{}", c, name), p->grad(),
                  golden(fmt::format("{}.d{}.{}", c, name, tag(dtype)), dtype));
  }
}

// Three training steps on x[0..2], then the buffers, then forward/backward in eval mode on x[0].
void check_steps(const std::string& c, DType dtype, Module& m, const Params& params,
                 const std::vector<std::string>& buffers) {
  const Tensor xs = golden(c + ".x", dtype);
  for (std::int64_t s = 0; s < 3; ++s) {
    m.forward_no_grad(xs.select(0, s).contiguous());
  }
  m.eval();
  const StateDict state = m.state_dict();
  for (const std::string& b : buffers) {
    require_close(fmt::format("{} {}", c, b), state.at(b),
                  golden(fmt::format("{}.{}.{}", c, b, tag(dtype)), state.at(b).dtype()));
  }
  check_case(
      c, dtype, params, [&](const Variable& x) { return m.forward(x); },
      xs.select(0, 0).contiguous());
}

}  // namespace

TEST_CASE("batch_norm matches PyTorch in training", "[batch_norm][golden]") {
  const DType dtype = GENERATE(DType::f32, DType::f64);
  CAPTURE(tag(dtype));
  BatchNorm bn2(3, {.dtype = dtype});
  check_case("batch_norm2d", dtype, {{"weight", &bn2.weight()}, {"bias", &bn2.bias()}},
             [&](const Variable& x) { return bn2.forward(x); });
  BatchNorm bn1(5, {.dtype = dtype});
  check_case("batch_norm1d", dtype, {{"weight", &bn1.weight()}, {"bias", &bn1.bias()}},
             [&](const Variable& x) { return bn1.forward(x); });
}

TEST_CASE("batch_norm matches PyTorch's running statistics and eval mode", "[batch_norm][golden]") {
  const DType dtype = GENERATE(DType::f32, DType::f64);
  CAPTURE(tag(dtype));
  const std::vector<std::string> buffers{"running_mean", "running_var", "num_batches_tracked"};
  BatchNorm bn(3, {.momentum = 0.2, .dtype = dtype});
  check_steps("batch_norm2d_steps", dtype, bn, {{"weight", &bn.weight()}, {"bias", &bn.bias()}},
              buffers);
  BatchNorm cumulative(3, {.momentum = std::nullopt, .dtype = dtype});
  check_steps("batch_norm2d_cumulative", dtype, cumulative,
              {{"weight", &cumulative.weight()}, {"bias", &cumulative.bias()}}, buffers);
}

TEST_CASE("layer_norm matches PyTorch", "[layer_norm][golden]") {
  const DType dtype = GENERATE(DType::f32, DType::f64);
  LayerNorm ln({3, 4}, {.dtype = dtype});
  check_case("layer_norm", dtype, {{"weight", &ln.weight()}, {"bias", &ln.bias()}},
             [&](const Variable& x) { return ln.forward(x); });
}

TEST_CASE("group_norm matches PyTorch", "[group_norm][golden]") {
  const DType dtype = GENERATE(DType::f32, DType::f64);
  GroupNorm gn(2, 6, {.dtype = dtype});
  check_case("group_norm", dtype, {{"weight", &gn.weight()}, {"bias", &gn.bias()}},
             [&](const Variable& x) { return gn.forward(x); });
}

TEST_CASE("instance_norm matches PyTorch in training and with running statistics",
          "[instance_norm][golden]") {
  const DType dtype = GENERATE(DType::f32, DType::f64);
  InstanceNorm2d in(3, {.affine = true, .dtype = dtype});
  check_case("instance_norm", dtype, {{"weight", &in.weight()}, {"bias", &in.bias()}},
             [&](const Variable& x) { return in.forward(x); });
  InstanceNorm2d tracked(3, {.affine = true, .track_running_stats = true, .dtype = dtype});
  check_steps("instance_norm_steps", dtype, tracked,
              {{"weight", &tracked.weight()}, {"bias", &tracked.bias()}},
              {"running_mean", "running_var"});
}

TEST_CASE("local_response_norm matches PyTorch", "[local_response_norm][golden]") {
  const DType dtype = GENERATE(DType::f32, DType::f64);
  LocalResponseNorm lrn(4, {.alpha = 0.5, .beta = 0.75, .k = 2.0});
  check_case("local_response_norm", dtype, {}, [&](const Variable& x) { return lrn.forward(x); });
}

TEST_CASE("rms_norm matches its PyTorch formula", "[rms_norm][golden]") {
  const DType dtype = GENERATE(DType::f32, DType::f64);
  RMSNorm rms({5}, {.eps = 1e-6, .dtype = dtype});
  check_case("rms_norm", dtype, {{"weight", &rms.weight()}},
             [&](const Variable& x) { return rms.forward(x); });
}

TEST_CASE("batch_renorm matches the paper's algorithm written in PyTorch",
          "[batch_renorm][golden]") {
  const DType dtype = GENERATE(DType::f32, DType::f64);
  BatchRenorm brn(3, {.dtype = dtype});
  const Tensor mu = Tensor::full({3}, 0.3, dtype), sigma = Tensor::full({3}, 0.8, dtype);
  check_case("batch_renorm", dtype, {{"weight", &brn.weight()}, {"bias", &brn.bias()}},
             [&](const Variable& x) {
               return batch_renorm_train(x, brn.weight(), brn.bias(), mu, sigma, 1.5, 0.25, 1e-5);
             });
}

TEST_CASE("batch_channel_norm channel norm matches labml's formula in PyTorch",
          "[batch_channel_norm][golden]") {
  const DType dtype = GENERATE(DType::f32, DType::f64);
  ChannelNorm cn(6, 2, {.dtype = dtype});
  check_case("channel_norm", dtype, {{"weight", &cn.weight()}, {"bias", &cn.bias()}},
             [&](const Variable& x) { return cn.forward(x); });
}
