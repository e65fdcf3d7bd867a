// layers/conv2d.cpp: the convolution's forward and backward, each taking the path that
// conv_geometry chose (layers/conv2d_geometry.h): the direct kernel of conv2d_direct.h for float32
// stride-1 convolutions on AVX-512 where it is faster (no column matrix), im2col + GEMM
// (conv2d_gemm.h) for the rest; then the node and the Conv2d module.
#include "layers/conv2d.h"

#include <fmt/format.h>

#include <memory>
#include <tuple>
#include <type_traits>
#include <vector>

#include "autograd/node.h"
#include "autograd/ops/op_util.h"
#include "core/error.h"
#include "layers/conv2d_direct.h"
#include "layers/conv2d_gemm.h"
#include "layers/conv2d_geometry.h"
#include "layers/weighted_op.h"

namespace normlab {

namespace {

using detail::ConvGeometry;

template <class T>
void conv2d_forward(const T* x, const T* w, const T* b, T* y, const ConvGeometry& g) {
  if constexpr (std::is_same_v<T, float>) {
    if (g.direct) {
      direct_conv2d_forward(x, w, b, y, g.N, g.G, g.Cg, g.H, g.W, g.Og, g.win, g.parallel);
      return;
    }
  }
  detail::conv2d_gemm_forward(x, w, b, y, g);
}

// backward: dx and dW by the direct kernel where conv_geometry chose it (dx as the direct
// convolution of dy with the flipped, transposed weights), whatever is left on the GEMMs.
template <class T>
void conv2d_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db,
                     const ConvGeometry& g) {
  if constexpr (std::is_same_v<T, float>) {
    if (dx != nullptr && detail::dx_by_direct_conv(g)) {
      const auto wflip = std::make_unique_for_overwrite<T[]>(
          static_cast<std::size_t>(g.G * g.Cg * g.Og * g.win.kernel_h * g.win.kernel_w));
      detail::flip_transpose_weight(w, g, wflip.get());  // writes every element
      direct_conv2d_forward(dy, wflip.get(), nullptr, dx, g.N, g.G, g.Og, g.oH, g.oW, g.Cg,
                            detail::transposed_window(g), g.parallel);
      dx = nullptr;
    }
    if (dw != nullptr && g.direct_weight_grad) {
      direct_conv2d_weight_grad(x, dy, dw, g.N, g.G, g.Cg, g.H, g.W, g.Og, g.win, g.parallel);
      dw = nullptr;
    }
  }
  detail::conv2d_gemm_backward(dy, x, w, dx, dw, db, g);
}

struct Conv2dNode final : detail::WeightedNode {
  ConvGeometry g{};

  std::vector<Tensor> backward(const Tensor& dy) override {
    const bool need_dx = input_needs_grad(*this, 0), need_dw = input_needs_grad(*this, 1);
    const bool need_db = has_bias && input_needs_grad(*this, 2);
    const Tensor dyc = dy.contiguous();
    Tensor dx = need_dx ? Tensor::empty({g.N, g.C, g.H, g.W}, dy.dtype()) : Tensor();
    // The direct weight gradient adds into dW; the GEMMs' first block writes it whole.
    const Shape dw_shape{g.O, g.Cg, g.win.kernel_h, g.win.kernel_w};
    Tensor dw = !need_dw               ? Tensor()
                : g.direct_weight_grad ? Tensor::zeros(dw_shape, dy.dtype())
                                       : Tensor::empty(dw_shape, dy.dtype());
    Tensor db = need_db ? Tensor::empty({g.O}, dy.dtype()) : Tensor();
    visit_float(dy.dtype(), "conv2d_backward", [&]<class T>() {
      conv2d_backward(
          dyc.data<T>().data(), need_dw ? x.data<T>().data() : nullptr,
          need_dx ? w.data<T>().data() : nullptr, need_dx ? dx.data<T>().data() : nullptr,
          need_dw ? dw.data<T>().data() : nullptr, need_db ? db.data<T>().data() : nullptr, g);
    });
    return input_grads(dx, dw, db);
  }
  std::string_view name() const override { return "conv2d"; }
};

}  // namespace

Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b,
                      const Conv2dParams& params) {
  const ConvGeometry g = detail::conv_geometry(x, w, b, params);
  const Tensor xc = x.contiguous(), wc = w.contiguous();
  const Tensor bc = b.defined() ? b.contiguous() : Tensor();
  Tensor y = Tensor::empty({g.N, g.O, g.oH, g.oW}, x.dtype());
  visit_float(x.dtype(), "conv2d", [&]<class T>() {
    conv2d_forward(xc.data<T>().data(), wc.data<T>().data(),
                   bc.defined() ? bc.data<T>().data() : nullptr, y.data<T>().data(), g);
  });
  return y;
}

Variable conv2d(const Variable& x, const Variable& w, const Variable& b,
                const Conv2dParams& params) {
  const Tensor bias = b.defined() ? b.data() : Tensor();
  Tensor y = conv2d_forward(x.data(), w.data(), bias, params);
  return detail::weighted_output(std::move(y), x, w, b, [&] {
    auto node = std::make_shared<Conv2dNode>();
    node->g = detail::conv_geometry(x.data(), w.data(), bias, params);
    return node;
  });
}

Conv2d::Conv2d(std::int64_t in_channels, std::int64_t out_channels, Size2d kernel_size, Rng& rng,
               const Conv2dOptions& options)
    : in_channels_(in_channels),
      out_channels_(out_channels),
      kernel_size_(kernel_size),
      params_{options.stride, options.padding, options.dilation, options.groups} {
  const std::int64_t G = options.groups;
  if (in_channels < 1 || out_channels < 1 || G < 1) {
    throw ValueError(
        fmt::format("Conv2d: in_channels ({}), out_channels ({}) and groups ({}) must be >= 1",
                    in_channels, out_channels, G));
  }
  if (in_channels % G != 0 || out_channels % G != 0) {
    throw ValueError(fmt::format(
        "Conv2d: in_channels ({}) and out_channels ({}) must both be divisible by groups ({})",
        in_channels, out_channels, G));
  }
  check_window("Conv2d", Window2d{kernel_size.h, kernel_size.w, options.stride.h, options.stride.w,
                                  options.padding.h, options.padding.w, options.dilation.h,
                                  options.dilation.w});
  std::tie(weight_, bias_) = detail::default_weight_and_bias(
      "Conv2d", {out_channels, in_channels / G, kernel_size.h, kernel_size.w}, options.bias,
      options.dtype, rng);
  register_parameter("weight", &weight_);
  if (bias_.defined()) {
    register_parameter("bias", &bias_);
  }
}

Variable Conv2d::forward(const Variable& x) {
  return conv2d(x, weight_, bias_, params_);
}

Tensor Conv2d::forward_no_grad(const Tensor& x) {
  return conv2d_forward(x, weight_.data(), bias_.defined() ? bias_.data() : Tensor(), params_);
}

std::string Conv2d::extra_repr() const {
  std::string s =
      fmt::format("{}, {}, kernel_size={}", in_channels_, out_channels_, kernel_size_.repr());
  if (params_.stride != Size2d(1)) {
    s += ", stride=" + params_.stride.repr();
  }
  if (params_.padding != Size2d(0)) {
    s += ", padding=" + params_.padding.repr();
  }
  if (params_.dilation != Size2d(1)) {
    s += ", dilation=" + params_.dilation.repr();
  }
  if (params_.groups != 1) {
    s += fmt::format(", groups={}", params_.groups);
  }
  return bias_.defined() ? s : s + ", bias=False";
}

}  // namespace normlab
