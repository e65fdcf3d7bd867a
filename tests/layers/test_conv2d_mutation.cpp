// [meta] a mutation test on the real convolution kernels: conv2d's backward recomposed in the test
// from the kernels Conv2d runs (im2col, col2im and gemm over OpenBLAS), once as
// layers/conv2d_gemm.cpp composes them and once with dW transposed (col · dyᵀ instead of dy · colᵀ,
// the classic wrong transpose flag). The right composition must equal Conv2d's own backward and
// pass gradcheck; the mutant must fail it, and only in the weight's gradient.
#include <catch2/catch.hpp>

#include "autograd/node.h"
#include "core/gemm.h"
#include "core/im2col.h"
#include "layers/conv2d.h"
#include "tests/layers/layer_test_helpers.h"

using namespace normlab;
using namespace normlab::test;

namespace {

// Stride 1, padding 1, one group, no bias: y[n] = W (O, K) · im2col(x[n]) (K, L).
const Conv2dParams kParams{.padding = 1};

Window2d window(const Tensor& w) {
  return {.kernel_h = w.dim(2), .kernel_w = w.dim(3), .pad_h = 1, .pad_w = 1};
}

struct ComposedConvNode final : Node {
  Tensor x, w;  // contiguous float64
  bool transpose_dw = false;

  std::vector<Tensor> backward(const Tensor& dy_in) override {
    const Tensor dy = dy_in.contiguous();
    const std::int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), O = w.dim(0);
    const std::int64_t K = C * w.dim(2) * w.dim(3), L = dy.dim(2) * dy.dim(3);
    Tensor dx = Tensor::zeros(x.shape(), DType::f64);
    Tensor dw = Tensor::zeros(w.shape(), DType::f64);
    Tensor col = Tensor::empty({K, L}, DType::f64);
    Tensor dcol = Tensor::empty({K, L}, DType::f64);
    const double* xp = x.data<double>().data();
    const double* wp = w.data<double>().data();
    const double* dyp = dy.data<double>().data();
    for (std::int64_t n = 0; n < N; ++n) {
      const double* dyn = dyp + n * O * L;
      im2col(xp + n * C * H * W, C, H, W, window(w), col.data<double>().data());
      if (transpose_dw) {  // mutant: dW (stored as K×O) += col (K, L) · dyᵀ (L, O)
        gemm<double>(false, true, K, O, L, 1.0, col.data<double>().data(), L, dyn, L, 1.0,
                     dw.data<double>().data(), O);
      } else {  // layers/conv2d_gemm.cpp step 1: dW (O, K) += dy (O, L) · colᵀ (L, K)
        gemm<double>(false, true, O, K, L, 1.0, dyn, L, col.data<double>().data(), L, 1.0,
                     dw.data<double>().data(), K);
      }
      // step 2: dcol = Wᵀ (K, O) · dy (O, L); dx[n] = col2im(dcol)
      gemm<double>(true, false, K, L, O, 1.0, wp, K, dyn, L, 0.0, dcol.data<double>().data(), L);
      col2im(dcol.data<double>().data(), C, H, W, window(w),
             dx.data<double>().data() + n * C * H * W);
    }
    return {dx, dw};
  }
  std::string_view name() const override { return "composed_conv2d"; }
};

Variable composed_conv(const Variable& x, const Variable& w, bool transpose_dw) {
  auto node = std::make_shared<ComposedConvNode>();
  node->x = x.data().contiguous();
  node->w = w.data().contiguous();
  node->transpose_dw = transpose_dw;
  return make_output(conv2d_forward(x.data(), w.data(), Tensor(), kParams), node, {x, w});
}

}  // namespace

TEST_CASE("conv2d: the recomposed backward equals Conv2d's own", "[conv2d][meta]") {
  Rng rng(71);
  Variable x = leaf({2, 2, 5, 4}, rng), w = leaf({3, 2, 3, 3}, rng);
  const Tensor dy = randn({2, 3, 5, 4}, DType::f64, rng);
  conv2d(x, w, Variable(), kParams).backward(dy);
  const Tensor dx = x.grad().clone(), dw = w.grad().clone();
  x.zero_grad();
  w.zero_grad();
  composed_conv(x, w, false).backward(dy);
  REQUIRE(max_abs_diff(x.grad(), dx) < 1e-12);
  REQUIRE(max_abs_diff(w.grad(), dw) < 1e-12);
}

TEST_CASE("conv2d gradcheck fails for a backward with dW transposed", "[conv2d][gradcheck][meta]") {
  Rng rng(72);
  const Variable x = leaf({2, 2, 5, 4}, rng), w = leaf({3, 2, 3, 3}, rng);
  const auto with = [](bool transpose_dw) {
    return [transpose_dw](const std::vector<Variable>& in) {
      return composed_conv(in[0], in[1], transpose_dw);
    };
  };
  const GradcheckReport right = gradcheck(with(false), {x, w}, tight());
  INFO(right.worst());
  REQUIRE(right.ok());

  const GradcheckReport mutant = gradcheck(with(true), {x, w}, tight());
  INFO(mutant.worst());
  REQUIRE_FALSE(mutant.ok());
  REQUIRE(mutant.mismatches.size() > 40);  // most of dW's 54 elements
  for (const GradcheckMismatch& m : mutant.mismatches) {
    REQUIRE(m.input == 1);  // dx is composed correctly; only the weight's gradient is wrong
  }
}
