// layers/dropout.cpp: the mask is drawn once per forward and saved, already scaled by 1/(1 − p).
#include "layers/dropout.h"

#include <fmt/format.h>

#include <cmath>

#include "autograd/node.h"
#include "autograd/ops/map_kernel.h"
#include "core/error.h"

namespace normlab {

namespace {

void check_p(std::string_view op, double p) {
  if (!(p >= 0.0 && p <= 1.0)) {
    throw ValueError(fmt::format("{}: probability p must be in [0, 1] (got {})", op, p));
  }
}

// mask_i = 1/(1 − p) with probability 1 − p, else 0 (all zeros for p = 1).
Tensor draw_mask(const Shape& shape, DType dtype, double p, Rng& rng) {
  Tensor mask = Tensor::empty(shape, dtype);
  const double keep = 1.0 - p;
  const double scale = keep > 0.0 ? 1.0 / keep : 0.0;
  visit_float(dtype, "dropout", [&]<class T>() {
    T* m = mask.data<T>().data();
    for (std::int64_t i = 0; i < mask.numel(); ++i) {
      m[i] = rng.uniform() < keep ? static_cast<T>(scale) : T{0};
    }
  });
  return mask;
}

Tensor apply_mask(const Tensor& a, const Tensor& mask) {
  const Tensor ac = a.contiguous();
  Tensor y = Tensor::empty(a.shape(), a.dtype());
  visit_float(a.dtype(), "dropout", [&]<class T>() {
    multiply_elementwise(ac.data<T>().data(), mask.data<T>().data(), y.data<T>().data(),
                         y.numel());  // y_i = a_i · m_i
  });
  return y;
}

struct DropoutNode final : Node {
  Tensor mask;  // already scaled by 1/(1 − p)
  std::vector<Tensor> backward(const Tensor& dy) override { return {apply_mask(dy, mask)}; }
  std::string_view name() const override { return "dropout"; }
  void release() override { mask = Tensor(); }
};

}  // namespace

Tensor dropout_forward(const Tensor& x, double p, bool training, Rng& rng) {
  check_defined("dropout", x, "x");
  check_p("dropout", p);
  if (!training || p == 0.0) {
    return x;
  }
  return apply_mask(x, draw_mask(x.shape(), x.dtype(), p, rng));
}

Variable dropout(const Variable& x, double p, bool training, Rng& rng) {
  check_defined("dropout", x.data(), "x");
  check_p("dropout", p);
  if (!training || p == 0.0) {
    return x;
  }
  Tensor mask = draw_mask(x.shape(), x.dtype(), p, rng);
  Tensor y = apply_mask(x.data(), mask);
  if (!x.requires_grad()) {
    return Variable(std::move(y), false);
  }
  auto node = std::make_shared<DropoutNode>();
  node->mask = std::move(mask);
  return make_output(std::move(y), std::move(node), {x});
}

Dropout::Dropout(double p, std::uint64_t seed) : p_(p), rng_(seed) {
  check_p("Dropout", p);
}

std::string Dropout::extra_repr() const {
  return fmt::format("p={}", p_);
}

}  // namespace normlab
