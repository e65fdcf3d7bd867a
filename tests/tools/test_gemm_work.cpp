// count_gemm_work: the GEMM work of one training step, from the shapes the layers see.
#include <catch2/catch.hpp>

#include "core/random.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/norm/group_norm.h"
#include "models/model.h"
#include "tools/gemm_work.h"

using namespace normlab;

TEST_CASE("count_gemm_work: the tiny CNN's convolutions and classifier, by hand", "[gemm_work]") {
  // batch 2 of 1x28x28; the three blocks are 3x3 convolutions 1→32 at 28x28, 32→64 at 14x14 and
  // 64→128 at 7x7, then a linear layer 128→10. Forward: 2·numel(y)·K.
  const double conv1 = 2.0 * (2 * 32 * 28 * 28) * (1 * 9);
  const double conv2 = 2.0 * (2 * 64 * 14 * 14) * (32 * 9);
  const double conv3 = 2.0 * (2 * 128 * 7 * 7) * (64 * 9);
  const double linear = 2.0 * (2 * 10) * 128;
  const NormKind norm = GENERATE(NormKind::group, NormKind::ws_group, NormKind::none);
  CAPTURE(norm_kind_name(norm));
  Rng rng(3);
  ModelOptions options;
  options.norm = norm;
  auto model = make_model(ModelKind::tiny, options, rng);
  const Tensor x = randn({2, 1, 28, 28}, DType::f32, rng);
  const GemmWork work = count_gemm_work(*model, x);
  CHECK(work.layers == 4);
  CHECK(work.forward_flops == conv1 + conv2 + conv3 + linear);
  // The first convolution's input is the images: ∂W only, no ∂x.
  CHECK(work.step_flops == 2.0 * conv1 + 3.0 * (conv2 + conv3 + linear));
  // The counter is detached afterwards: a second count sees the same work, not twice as much.
  CHECK(count_gemm_work(*model, x).forward_flops == work.forward_flops);
}

TEST_CASE("layer_forward_gemm_flops: a grouped convolution and a linear layer; 0 for a norm",
          "[gemm_work]") {
  Rng rng(4);
  // Conv2d 8 → 6, groups 2, kernel 3x2: K = (8 / 2)·3·2 = 24 per output element
  const Conv2d conv(8, 6, Size2d{3, 2}, rng, Conv2dOptions{.groups = 2});
  CHECK(layer_forward_gemm_flops(conv, 100) == 2.0 * 100 * 24);
  const Linear linear(5, 7, rng);
  CHECK(layer_forward_gemm_flops(linear, 14) == 2.0 * 14 * 5);
  const GroupNorm norm(2, 8);
  CHECK(layer_forward_gemm_flops(norm, 64) == 0.0);
}
