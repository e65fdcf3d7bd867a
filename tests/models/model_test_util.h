// tests/models/model_test_util.h: the small model configurations the model tests share (the same
// as TEST_CONFIGS in tools/torch_models.py, which generated tests/golden/models/) and their
// inputs.
#pragma once

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>

#include "core/random.h"
#include "core/tensor.h"
#include "models/model.h"

namespace normlab::test {

// tiny and resnet20: 1×28×28, width 1; vgg: 3×32×32, width 1/8.
inline ModelOptions small_options(ModelKind kind, NormKind norm, DType dtype = DType::f32) {
  ModelOptions o;
  o.norm = norm;
  o.norm_options.dtype = dtype;
  o.in_channels = kind == ModelKind::vgg ? 3 : 1;
  o.image_size = kind == ModelKind::vgg ? 32 : 28;
  o.num_classes = 10;
  o.width = kind == ModelKind::vgg ? 0.125 : 1.0;
  return o;
}

// small_options with resnet20 on 1×16×16 (the costliest model in a Debug build) for the tests that
// run it; names and parameter counts do not depend on the image size.
inline ModelOptions run_options(ModelKind kind, NormKind norm, DType dtype = DType::f32) {
  ModelOptions o = small_options(kind, norm, dtype);
  if (kind == ModelKind::resnet20) {
    o.image_size = 16;
  }
  return o;
}

// (N, in_channels, image_size, image_size) standard-normal inputs.
inline Tensor model_input(const ModelOptions& o, std::int64_t N, Rng& rng) {
  return randn({N, o.in_channels, o.image_size, o.image_size}, o.norm_options.dtype, rng);
}

// "tiny/batch_renorm", for CAPTURE and file names.
inline std::string case_name(ModelKind kind, NormKind norm) {
  return std::string(model_kind_name(kind)) + "/" + std::string(norm_kind_name(norm));
}

}  // namespace normlab::test
