// autograd/ops/matmul.cpp: batched matrix product over GEMM, forward and backward.
//   forward:  Y_i = A_i · B_i                       A_i: (M, K), B_i: (K, N), Y_i: (M, N)
//   backward: dA_i = dY_i · B_iᵀ,  dB_i = A_iᵀ · dY_i
// A 2-D operand is the same matrix in every batch (batch stride 0); its gradient accumulates over
// the batch through GEMM's beta = 1.
#include "autograd/ops/matmul.h"

#include <fmt/format.h>

#include <algorithm>

#include "autograd/ops.h"
#include "autograd/ops/op_util.h"
#include "core/error.h"
#include "core/gemm.h"

namespace normlab {

namespace {

// How GEMM reads one operand: matrix i starts at element i·batch_stride of t, stored row-major
// with leading dimension ld, or, when trans, stored as its transpose.
struct GemmOperand {
  Tensor t;
  std::int64_t batch_stride = 0;
  std::int64_t ld = 1;
  bool trans = false;
};

// x: (R, C) or (B, R, C), any strides. Uses x in place when each matrix is row-major or transposed
// with a valid leading dimension, otherwise a contiguous copy.
GemmOperand gemm_operand(const Tensor& x) {
  const int nd = x.ndim();
  const std::int64_t R = x.dim(-2);
  const std::int64_t C = x.dim(-1);
  const std::int64_t sr = x.strides()[static_cast<std::size_t>(nd - 2)];
  const std::int64_t sc = x.strides()[static_cast<std::size_t>(nd - 1)];
  const std::int64_t bs = nd == 3 ? x.strides()[0] : 0;
  if ((C == 1 || sc == 1) && (R == 1 || sr >= std::max<std::int64_t>(C, 1))) {
    return {x, bs, R == 1 ? std::max<std::int64_t>(C, 1) : sr, false};
  }
  if ((R == 1 || sr == 1) && (C == 1 || sc >= std::max<std::int64_t>(R, 1))) {
    return {x, bs, C == 1 ? std::max<std::int64_t>(R, 1) : sc, true};
  }
  const Tensor c = x.contiguous();
  return {c, nd == 3 ? R * C : 0, std::max<std::int64_t>(C, 1), false};
}

// The product's sizes; ShapeError naming both shapes when they do not fit.
struct MatmulDims {
  std::int64_t B, M, K, N;
  bool batched;
};

MatmulDims matmul_dims(std::string_view op, const Tensor& a, const Tensor& b) {
  check_same_dtype(op, a, b);
  const auto both = [&] {
    return fmt::format("a: {}, b: {}", to_string(a.shape()), to_string(b.shape()));
  };
  if (a.ndim() < 2 || a.ndim() > 3 || b.ndim() < 2 || b.ndim() > 3) {
    throw ShapeError(fmt::format("{}: expected 2-D or 3-D operands ({})", op, both()));
  }
  if (a.dim(-1) != b.dim(-2)) {
    throw ShapeError(fmt::format("{}: inner dimensions differ ({})", op, both()));
  }
  if (a.ndim() == 3 && b.ndim() == 3 && a.dim(0) != b.dim(0)) {
    throw ShapeError(fmt::format("{}: batch sizes differ ({})", op, both()));
  }
  const bool batched = a.ndim() == 3 || b.ndim() == 3;
  const std::int64_t B = a.ndim() == 3 ? a.dim(0) : (b.ndim() == 3 ? b.dim(0) : 1);
  return {B, a.dim(-2), a.dim(-1), b.dim(-1), batched};
}

// forward: Y_i = A_i · B_i for i < B (y contiguous (B, M, N))
template <class T>
void matmul_forward(const GemmOperand& a, const GemmOperand& b, const MatmulDims& d, T* y) {
  const T* A = a.t.data_ptr<T>();
  const T* B = b.t.data_ptr<T>();
  for (std::int64_t i = 0; i < d.B; ++i) {
    gemm<T>(a.trans, b.trans, d.M, d.N, d.K, T{1}, A + i * a.batch_stride, a.ld,
            B + i * b.batch_stride, b.ld, T{0}, y + i * d.M * d.N, d.N);
  }
}

// backward: dA_i = dY_i · B_iᵀ  (M×N · N×K),  dB_i = A_iᵀ · dY_i  (K×M · M×N). A shared 2-D
// operand has output stride 0 and beta = 1 after the first batch, so its gradient is Σ_i.
// da or db null: not requested. dy: contiguous (B, M, N).
template <class T>
void matmul_backward(const T* dy, const GemmOperand& a, const GemmOperand& b, const MatmulDims& d,
                     bool a_batched, bool b_batched, T* da, T* db) {
  const T* A = a.t.data_ptr<T>();
  const T* B = b.t.data_ptr<T>();
  for (std::int64_t i = 0; i < d.B; ++i) {
    const T* dy_i = dy + i * d.M * d.N;
    if (da != nullptr) {
      const T beta = a_batched || i == 0 ? T{0} : T{1};
      gemm<T>(false, !b.trans, d.M, d.K, d.N, T{1}, dy_i, d.N, B + i * b.batch_stride, b.ld, beta,
              da + (a_batched ? i * d.M * d.K : 0), d.K);
    }
    if (db != nullptr) {
      const T beta = b_batched || i == 0 ? T{0} : T{1};
      gemm<T>(!a.trans, false, d.K, d.N, d.M, T{1}, A + i * a.batch_stride, a.ld, dy_i, d.N, beta,
              db + (b_batched ? i * d.K * d.N : 0), d.N);
    }
  }
}

Shape output_shape(const MatmulDims& d) {
  return d.batched ? Shape{d.B, d.M, d.N} : Shape{d.M, d.N};
}

struct MatmulNode final : Node {
  Tensor a, b;
  std::vector<Tensor> backward(const Tensor& dy) override {
    BinaryGrads g =
        matmul_backward(dy, a, b, input_needs_grad(*this, 0), input_needs_grad(*this, 1));
    return {std::move(g.da), std::move(g.db)};
  }
  std::string_view name() const override { return "matmul"; }
  void release() override { a = b = Tensor(); }
};

}  // namespace

Tensor matmul_forward(const Tensor& a, const Tensor& b) {
  const MatmulDims d = matmul_dims("matmul", a, b);
  const GemmOperand ga = gemm_operand(a);
  const GemmOperand gb = gemm_operand(b);
  Tensor y = Tensor::zeros(output_shape(d), a.dtype());  // zeros: K = 0 leaves Y = 0
  visit_float(a.dtype(), "matmul", [&]<class T>() {
    if (d.K > 0) {
      matmul_forward(ga, gb, d, y.data<T>().data());
    }
  });
  return y;
}

BinaryGrads matmul_backward(const Tensor& dy, const Tensor& a, const Tensor& b, bool need_da,
                            bool need_db) {
  const MatmulDims d = matmul_dims("matmul_backward", a, b);
  if (dy.shape() != output_shape(d)) {
    throw ShapeError(fmt::format("matmul_backward: dy should have shape {} (dy: {}, a: {}, b: {})",
                                 to_string(output_shape(d)), to_string(dy.shape()),
                                 to_string(a.shape()), to_string(b.shape())));
  }
  check_same_dtype("matmul_backward", dy, a);
  const GemmOperand ga = gemm_operand(a);
  const GemmOperand gb = gemm_operand(b);
  const Tensor dyc = dy.contiguous();
  // zeros: an empty inner product (N = 0 for dA, M = 0 for dB) leaves the gradient 0
  Tensor da = need_da ? Tensor::zeros(a.shape(), a.dtype()) : Tensor();
  Tensor db = need_db ? Tensor::zeros(b.shape(), b.dtype()) : Tensor();
  visit_float(a.dtype(), "matmul_backward", [&]<class T>() {
    if (d.M > 0 && d.N > 0) {
      matmul_backward(dyc.data<T>().data(), ga, gb, d, a.ndim() == 3, b.ndim() == 3,
                      need_da ? da.data<T>().data() : nullptr,
                      need_db ? db.data<T>().data() : nullptr);
    }
  });
  return {std::move(da), std::move(db)};
}

Variable matmul(const Variable& a, const Variable& b) {
  Tensor y = matmul_forward(a.data(), b.data());
  std::shared_ptr<MatmulNode> node;
  if (any_requires_grad({a, b})) {
    node = std::make_shared<MatmulNode>();
    node->a = a.data();
    node->b = b.data();
  }
  return make_output(std::move(y), std::move(node), {a, b});
}

}  // namespace normlab
