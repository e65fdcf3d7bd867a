// layers/linear.cpp: y = x Wᵀ + b and its backward, as three GEMMs over x viewed as (M, in).
#include "layers/linear.h"

#include <fmt/format.h>

#include <tuple>
#include <vector>

#include "autograd/node.h"
#include "autograd/ops/op_util.h"
#include "core/error.h"
#include "core/gemm.h"
#include "layers/layer_util.h"
#include "layers/weighted_op.h"

namespace normlab {

namespace {

// forward: y (M, O) = x (M, I) · Wᵀ (I, O) + b (broadcast over rows)
template <class T>
void linear_forward(const T* x, const T* w, const T* b, T* y, std::int64_t M, std::int64_t I,
                    std::int64_t O) {
  gemm<T>(false, true, M, O, I, T{1}, x, I, w, I, T{0}, y, O);
  if (b != nullptr) {
    for (std::int64_t m = 0; m < M; ++m) {
      for (std::int64_t o = 0; o < O; ++o) {
        y[m * O + o] += b[o];
      }
    }
  }
}

// backward (each output optional, nullptr = not needed):
//   dx (M, I) = dy (M, O) · W (O, I)
//   dW (O, I) = dyᵀ (O, M) · x (M, I)
//   db_o      = Σ_m dy[m][o]                  (double accumulators)
template <class T>
void linear_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db, std::int64_t M,
                     std::int64_t I, std::int64_t O) {
  if (dx != nullptr) {
    gemm<T>(false, false, M, I, O, T{1}, dy, O, w, I, T{0}, dx, I);
  }
  if (dw != nullptr && M > 0) {
    gemm<T>(true, false, O, I, M, T{1}, dy, O, x, I, T{0}, dw, I);
  }
  if (db != nullptr) {
    std::vector<double> acc(static_cast<std::size_t>(O), 0.0);
    for (std::int64_t m = 0; m < M; ++m) {
      for (std::int64_t o = 0; o < O; ++o) {
        acc[static_cast<std::size_t>(o)] += static_cast<double>(dy[m * O + o]);
      }
    }
    for (std::int64_t o = 0; o < O; ++o) {
      db[o] = static_cast<T>(acc[static_cast<std::size_t>(o)]);
    }
  }
}

void check_linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  check_defined("linear", x, "x");
  check_defined("linear", w, "w");
  const std::string shapes =
      b.defined() ? fmt::format("x: {}, w: {}, b: {}", to_string(x.shape()), to_string(w.shape()),
                                to_string(b.shape()))
                  : fmt::format("x: {}, w: {}", to_string(x.shape()), to_string(w.shape()));
  if (w.ndim() != 2 || x.ndim() < 1) {
    throw ShapeError(fmt::format("linear: need x (*, in) and a 2-D weight (out, in) ({})", shapes));
  }
  if (x.dim(-1) != w.dim(1)) {
    throw ShapeError(fmt::format("linear: input has {} features but weight expects {} ({})",
                                 x.dim(-1), w.dim(1), shapes));
  }
  if (b.defined() && (b.ndim() != 1 || b.dim(0) != w.dim(0))) {
    throw ShapeError(fmt::format("linear: bias must have shape [{}] to match the weight ({})",
                                 w.dim(0), shapes));
  }
  check_same_dtype("linear", x, w);
  if (b.defined()) {
    check_same_dtype("linear", x, b);
  }
}

Shape output_shape(const Tensor& x, std::int64_t O) {
  Shape s = x.shape();
  s.back() = O;
  return s;
}

struct LinearNode final : detail::WeightedNode {
  std::int64_t in_features = 0;

  std::vector<Tensor> backward(const Tensor& dy) override {
    const bool need_dx = input_needs_grad(*this, 0), need_dw = input_needs_grad(*this, 1);
    const bool need_db = has_bias && input_needs_grad(*this, 2);
    const std::int64_t O = dy.dim(-1), M = dy.numel() / O;
    const std::int64_t I = in_features;
    const Tensor dyc = dy.contiguous();
    Tensor dx, dw, db;
    if (need_dx) {
      Shape s = dy.shape();
      s.back() = I;
      dx = Tensor::empty(s, dy.dtype());
    }
    if (need_dw) {
      dw = Tensor::zeros({O, I}, dy.dtype());
    }
    if (need_db) {
      db = Tensor::empty({O}, dy.dtype());
    }
    visit_float(dy.dtype(), "linear_backward", [&]<class T>() {
      linear_backward(dyc.data<T>().data(), need_dw ? x.data<T>().data() : nullptr,
                      need_dx ? w.data<T>().data() : nullptr,
                      need_dx ? dx.data<T>().data() : nullptr,
                      need_dw ? dw.data<T>().data() : nullptr,
                      need_db ? db.data<T>().data() : nullptr, M, I, O);
    });
    return input_grads(dx, dw, db);
  }
  std::string_view name() const override { return "linear"; }
};

}  // namespace

Tensor linear_forward(const Tensor& x, const Tensor& w, const Tensor& b) {
  check_linear(x, w, b);
  const std::int64_t I = w.dim(1), O = w.dim(0), M = x.numel() / std::max<std::int64_t>(I, 1);
  const Tensor xc = x.contiguous(), wc = w.contiguous();
  const Tensor bc = b.defined() ? b.contiguous() : Tensor();
  Tensor y = Tensor::zeros(output_shape(x, O), x.dtype());
  visit_float(x.dtype(), "linear", [&]<class T>() {
    linear_forward(xc.data<T>().data(), wc.data<T>().data(),
                   bc.defined() ? bc.data<T>().data() : nullptr, y.data<T>().data(), M, I, O);
  });
  return y;
}

Variable linear(const Variable& x, const Variable& w, const Variable& b) {
  const Tensor bias = b.defined() ? b.data() : Tensor();
  Tensor y = linear_forward(x.data(), w.data(), bias);
  return detail::weighted_output(std::move(y), x, w, b, [&] {
    auto node = std::make_shared<LinearNode>();
    node->in_features = w.data().dim(1);
    return node;
  });
}

Linear::Linear(std::int64_t in_features, std::int64_t out_features, Rng& rng,
               const LinearOptions& options)
    : in_features_(in_features), out_features_(out_features) {
  if (in_features < 1 || out_features < 1) {
    throw ValueError(fmt::format("Linear: in_features ({}) and out_features ({}) must be >= 1",
                                 in_features, out_features));
  }
  std::tie(weight_, bias_) = detail::default_weight_and_bias("Linear", {out_features, in_features},
                                                             options.bias, options.dtype, rng);
  register_parameter("weight", &weight_);
  if (bias_.defined()) {
    register_parameter("bias", &bias_);
  }
}

Variable Linear::forward(const Variable& x) {
  return linear(x, weight_, bias_);
}

Tensor Linear::forward_no_grad(const Tensor& x) {
  return linear_forward(x, weight_.data(), bias_.defined() ? bias_.data() : Tensor());
}

std::string Linear::extra_repr() const {
  return fmt::format("in_features={}, out_features={}, bias={}", in_features_, out_features_,
                     bias_.defined() ? "True" : "False");
}

}  // namespace normlab
