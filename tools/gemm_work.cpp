// tools/gemm_work.cpp: counting a model's GEMM work (tools/gemm_work.h).
#include "tools/gemm_work.h"

#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/norm/weight_standardization.h"

namespace normlab {

namespace {

// K of the GEMM behind child's forward, or 0 when child runs no GEMM of its own.
std::int64_t gemm_reduction_length(const Module& child) {
  auto conv_k = [](std::int64_t in_channels, Size2d kernel, const Conv2dParams& p) {
    return in_channels / p.groups * kernel.h * kernel.w;
  };
  if (const auto* conv = dynamic_cast<const Conv2d*>(&child)) {
    return conv_k(conv->in_channels(), conv->kernel_size(), conv->params());
  }
  if (const auto* ws = dynamic_cast<const WSConv2d*>(&child)) {
    return conv_k(ws->in_channels(), ws->kernel_size(), ws->params());
  }
  if (const auto* linear = dynamic_cast<const Linear*>(&child)) {
    return linear->in_features();
  }
  return 0;
}

double forward_flops(std::int64_t output_numel, std::int64_t k) {
  return 2.0 * static_cast<double>(output_numel) * static_cast<double>(k);
}

class GemmCounter final : public ForwardObserver {
 public:
  Variable after_forward(const Module& child, const Variable& y) override {
    const std::int64_t k = gemm_reduction_length(child);
    if (k > 0) {
      const double flops = forward_flops(y.data().numel(), k);
      work_.forward_flops += flops;
      // ∂W always; ∂x unless this is the first GEMM layer, which sees the images.
      work_.step_flops += flops * (work_.layers == 0 ? 2.0 : 3.0);
      ++work_.layers;
    }
    return y;
  }
  const GemmWork& work() const noexcept { return work_; }

 private:
  GemmWork work_;
};

}  // namespace

double layer_forward_gemm_flops(const Module& layer, std::int64_t output_numel) {
  return forward_flops(output_numel, gemm_reduction_length(layer));
}

GemmWork count_gemm_work(Module& model, const Tensor& x) {
  GemmCounter counter;
  struct Detach {  // the model never keeps a pointer to the counter past this call
    Module& model;
    ~Detach() { model.set_forward_observer(nullptr); }
  } detach{model};
  model.set_forward_observer(&counter);
  model.forward(Variable(x));
  return counter.work();
}

}  // namespace normlab
