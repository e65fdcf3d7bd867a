// layers/norm/weight_standardization.cpp: the standardization kernels and node, and WSConv2d.
// Equations WS1–WS4: docs/normalization/weight_standardization.md; D4:
// docs/normalization/derivation.md.
#include "layers/norm/weight_standardization.h"

#include <fmt/format.h>

#include <cmath>

#include "autograd/node.h"
#include "core/error.h"
#include "layers/norm/norm_core.h"

namespace normlab {

// forward, eq. WS1–WS3, W seen as (1, O, I):
//   μ_o = (1/I) Σ_i W,  rstd_o = 1/sqrt(σ²_o + ε),  Ŵ = (W − μ_o)·rstd_o
// mean, var, rstd: (O)
template <class T>
void weight_standardize_forward(const T* w, SetLayout L, double eps, double* mean, double* var,
                                double* rstd, T* what) {
  set_mean_var(w, L, mean, var);  // step 1: eq. WS1, WS2
  for (std::int64_t o = 0; o < L.sets; ++o) {
    rstd[o] = 1.0 / std::sqrt(var[o] + eps);
  }
  set_normalize_forward(w, mean, rstd, L, what);  // step 2: eq. WS3
}

// backward, eq. WS4, given dŴ (O, I) and the saved Ŵ, rstd (O): Ŵ is x̂ of eq. D4 with the set of
// output channel o, and no affine follows it, so g = dŴ:
//   dW = rstd_o/I · (I·dŴ − Σ_i dŴ − Ŵ·Σ_i dŴ·Ŵ)
template <class T>
void weight_standardize_backward(const T* dwhat, const T* what, const double* rstd, SetLayout L,
                                 T* dw) {
  set_normalize_backward(dwhat, what, rstd, L, dw);
}

namespace {

SetLayout weight_layout(const Shape& s) {  // S_o: every value of output channel o
  return {.outer = 1, .sets = s[0], .inner = numel_from(s, 1)};
}

struct WeightStandardizeNode final : Node {
  Tensor what;               // Ŵ (O, ...)
  std::vector<double> rstd;  // (O)

  std::vector<Tensor> backward(const Tensor& dy_in) override {
    const Tensor dwhat = dy_in.contiguous();
    Tensor dw = Tensor::empty(what.shape(), what.dtype());
    visit_float(what.dtype(), name(), [&]<class T>() {
      weight_standardize_backward(dwhat.data<T>().data(), what.data<T>().data(), rstd.data(),
                                  weight_layout(what.shape()), dw.data<T>().data());
    });
    return {dw};
  }
  std::string_view name() const override { return "weight_standardize"; }
  void release() override { what = Tensor(); }
};

}  // namespace

Variable weight_standardize(const Variable& w, double eps) {
  constexpr std::string_view kOp = "weight_standardize";
  check_defined(kOp, w.data(), "w");
  check_eps(kOp, eps);
  if (w.data().ndim() < 2) {
    throw ShapeError(
        fmt::format("{}: expected a weight with at least 2 dimensions (O, ...) (w: {})", kOp,
                    to_string(w.shape())));
  }
  const Tensor wc = w.data().contiguous();
  const SetLayout L = weight_layout(wc.shape());
  const auto O = static_cast<std::size_t>(L.sets);
  std::vector<double> mean(O), var(O), rstd(O);
  Tensor what = Tensor::empty(wc.shape(), wc.dtype());
  visit_float(wc.dtype(), kOp, [&]<class T>() {
    weight_standardize_forward(wc.data<T>().data(), L, eps, mean.data(), var.data(), rstd.data(),
                               what.data<T>().data());
  });
  std::shared_ptr<WeightStandardizeNode> node;
  if (any_requires_grad({w})) {
    node = std::make_shared<WeightStandardizeNode>();
    node->what = what;
    node->rstd = std::move(rstd);
  }
  return make_output(what, node, {w});
}

WSConv2d::WSConv2d(std::int64_t in_channels, std::int64_t out_channels, Size2d kernel_size,
                   Rng& rng, const WSConv2dOptions& options)
    : conv_(in_channels, out_channels, kernel_size, rng, options.conv), eps_(options.eps) {
  check_eps("ws_conv2d", options.eps);
  register_parameter("weight", &conv_.weight());
  register_parameter("bias", &conv_.bias());
}

Variable WSConv2d::forward(const Variable& x) {
  return conv2d(x, weight_standardize(conv_.weight(), eps_), conv_.bias(), conv_.params());
}

Tensor WSConv2d::forward_no_grad(const Tensor& x) {
  const Tensor what = weight_standardize(frozen(conv_.weight()), eps_).data();
  const Variable& b = conv_.bias();
  return conv2d_forward(x, what, b.defined() ? b.data() : Tensor(), conv_.params());
}

std::string WSConv2d::extra_repr() const {
  return fmt::format("{}, eps={}", conv_.extra_repr(), eps_);
}

}  // namespace normlab
