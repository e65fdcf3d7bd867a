// layers/conv2d.cpp: convolution as im2col + one GEMM per image and group (darknet's shape).
// Each thread owns one column buffer, reused for every image and group it handles; images are split
// across threads when the batch is large. A 1×1 kernel with stride 1 and no padding skips im2col:
// the image itself is the column matrix.
#include "layers/conv2d.h"

#include <fmt/format.h>
#include <omp.h>

#include <vector>

#include "autograd/node.h"
#include "core/error.h"
#include "core/gemm.h"
#include "core/threads.h"
#include "layers/init.h"

namespace normlab {

namespace {

struct ConvGeometry {
  std::int64_t N, C, H, W, O, G, Cg, Og, oH, oW;
  std::int64_t K, L;  // K = Cg·kH·kW rows of col, L = oH·oW columns
  Window2d win;
  bool pointwise;  // 1×1, stride 1, padding 0: col = x
  bool parallel;   // split images across threads
};

std::string operands(const Tensor& x, const Tensor& w, const Tensor& b) {
  std::string s = fmt::format("x: {}, w: {}", to_string(x.shape()), to_string(w.shape()));
  return b.defined() ? s + fmt::format(", b: {}", to_string(b.shape())) : s;
}

ConvGeometry conv_geometry(const Tensor& x, const Tensor& w, const Tensor& b,
                           const Conv2dParams& p) {
  check_defined("conv2d", x, "x");
  check_defined("conv2d", w, "w");
  if (x.ndim() != 4 || w.ndim() != 4) {
    throw ShapeError(fmt::format("conv2d: expected x (N, C, H, W) and w (O, C/groups, kH, kW) ({})",
                                 operands(x, w, b)));
  }
  ConvGeometry g{};
  g.G = p.groups;
  g.N = x.dim(0), g.C = x.dim(1), g.H = x.dim(2), g.W = x.dim(3), g.O = w.dim(0);
  if (g.G < 1 || g.O % g.G != 0) {
    throw ValueError(fmt::format("conv2d: {} output channels are not divisible into {} groups ({})",
                                 g.O, g.G, operands(x, w, b)));
  }
  if (g.C != w.dim(1) * g.G) {
    const std::string groups = g.G > 1 ? fmt::format(" ({} groups of {})", g.G, w.dim(1)) : "";
    throw ShapeError(fmt::format("conv2d: input has {} channels but weight expects {}{} ({})", g.C,
                                 w.dim(1) * g.G, groups, operands(x, w, b)));
  }
  if (b.defined() && (b.ndim() != 1 || b.dim(0) != g.O)) {
    throw ShapeError(fmt::format("conv2d: bias must have shape [{}] ({})", g.O, operands(x, w, b)));
  }
  check_same_dtype("conv2d", x, w);
  if (b.defined()) {
    check_same_dtype("conv2d", x, b);
  }
  g.win = Window2d{.kernel_h = w.dim(2),
                   .kernel_w = w.dim(3),
                   .stride_h = p.stride.h,
                   .stride_w = p.stride.w,
                   .pad_h = p.padding.h,
                   .pad_w = p.padding.w,
                   .dilation_h = p.dilation.h,
                   .dilation_w = p.dilation.w};
  check_window("conv2d", g.win);
  g.oH = g.win.out_h(g.H), g.oW = g.win.out_w(g.W);
  if (g.oH < 1 || g.oW < 1) {
    throw ShapeError(fmt::format(
        "conv2d: kernel {}x{} with dilation {} does not fit the input {}x{} padded by {} ({})",
        g.win.kernel_h, g.win.kernel_w, p.dilation.repr(), g.H, g.W, p.padding.repr(),
        operands(x, w, b)));
  }
  g.Cg = g.C / g.G, g.Og = g.O / g.G;
  g.K = g.Cg * g.win.kernel_h * g.win.kernel_w, g.L = g.oH * g.oW;
  g.pointwise = g.win.kernel_h == 1 && g.win.kernel_w == 1 && g.win.stride_h == 1 &&
                g.win.stride_w == 1 && g.win.pad_h == 0 && g.win.pad_w == 0;
  g.parallel = g.N > 1 && omp_get_max_threads() > 1 && g.N * g.O * g.K * g.L > 64 * kParallelGrain;
  return g;
}

int thread_slots(const ConvGeometry& g) {
  return g.parallel ? omp_get_max_threads() : 1;
}
std::size_t sz(std::int64_t n) {
  return static_cast<std::size_t>(n);
}

// forward, per image n and group gr:  y[n, gr] (Og, L) = W_gr (Og, K) · col (K, L) + b
template <class T>
void conv2d_forward(const T* x, const T* w, const T* b, T* y, const ConvGeometry& g) {
  std::vector<T> cols(g.pointwise ? 0 : sz(thread_slots(g) * g.K * g.L));
#pragma omp parallel for if (g.parallel) schedule(static)
  for (std::int64_t n = 0; n < g.N; ++n) {
    T* col = g.pointwise ? nullptr : cols.data() + sz(omp_get_thread_num() * g.K * g.L);
    for (std::int64_t gr = 0; gr < g.G; ++gr) {
      const T* xg = x + (n * g.C + gr * g.Cg) * g.H * g.W;
      if (!g.pointwise) {
        im2col(xg, g.Cg, g.H, g.W, g.win, col);
      }
      T* yg = y + (n * g.O + gr * g.Og) * g.L;
      gemm<T>(false, false, g.Og, g.L, g.K, T{1}, w + gr * g.Og * g.K, g.K, g.pointwise ? xg : col,
              g.L, T{0}, yg, g.L);
      for (std::int64_t o = 0; b != nullptr && o < g.Og; ++o) {
        const T bias = b[gr * g.Og + o];
        for (std::int64_t l = 0; l < g.L; ++l) {
          yg[o * g.L + l] += bias;
        }
      }
    }
  }
}

// backward, per image n and group gr (each output optional, nullptr = not needed):
//   step 1  dW_gr += dy[n, gr] (Og, L) · colᵀ (L, K)             (per-thread partial sums)
//   step 2  dcol   = W_grᵀ (K, Og) · dy[n, gr] (Og, L);  dx[n, gr] = col2im(dcol)
//   step 3  db_o   = Σ_n Σ_l dy[n][o][l]                          (double accumulators)
template <class T>
void conv2d_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db,
                     const ConvGeometry& g) {
  const std::int64_t KL = g.K * g.L, OK = g.O * g.K;
  const int slots = thread_slots(g);
  std::vector<T> cols(!g.pointwise && dw != nullptr ? sz(slots * KL) : 0);
  std::vector<T> dcols(!g.pointwise && dx != nullptr ? sz(slots * KL) : 0);
  std::vector<T> dw_part(g.parallel && dw != nullptr ? sz(slots * OK) : 0, T{0});
#pragma omp parallel for if (g.parallel) schedule(static)
  for (std::int64_t n = 0; n < g.N; ++n) {
    const auto t = sz(omp_get_thread_num());
    T* dw_t = g.parallel && dw != nullptr ? dw_part.data() + t * sz(OK) : dw;
    for (std::int64_t gr = 0; gr < g.G; ++gr) {
      const T* xg = x == nullptr ? nullptr : x + (n * g.C + gr * g.Cg) * g.H * g.W;
      const T* dyg = dy + (n * g.O + gr * g.Og) * g.L;
      if (dw != nullptr) {  // step 1
        const T* col = xg;
        if (!g.pointwise) {
          im2col(xg, g.Cg, g.H, g.W, g.win, cols.data() + t * sz(KL));
          col = cols.data() + t * sz(KL);
        }
        gemm<T>(false, true, g.Og, g.K, g.L, T{1}, dyg, g.L, col, g.L, T{1}, dw_t + gr * g.Og * g.K,
                g.K);
      }
      if (dx != nullptr) {  // step 2
        T* dxg = dx + (n * g.C + gr * g.Cg) * g.H * g.W;
        T* dcol = g.pointwise ? dxg : dcols.data() + t * sz(KL);
        gemm<T>(true, false, g.K, g.L, g.Og, T{1}, w + gr * g.Og * g.K, g.K, dyg, g.L, T{0}, dcol,
                g.L);
        if (!g.pointwise) {
          col2im(dcol, g.Cg, g.H, g.W, g.win, dxg);
        }
      }
    }
  }
  for (int s = 0; g.parallel && dw != nullptr && s < slots; ++s) {
    for (std::int64_t i = 0; i < OK; ++i) {
      dw[i] += dw_part[sz(s) * sz(OK) + sz(i)];
    }
  }
  for (std::int64_t o = 0; db != nullptr && o < g.O; ++o) {  // step 3
    double acc = 0.0;
    for (std::int64_t n = 0; n < g.N; ++n) {
      const T* dyo = dy + (n * g.O + o) * g.L;
      for (std::int64_t l = 0; l < g.L; ++l) {
        acc += static_cast<double>(dyo[l]);
      }
    }
    db[o] = static_cast<T>(acc);
  }
}

// Saves x only if W needs a gradient and W only if x does.
struct Conv2dNode final : Node {
  Tensor x, w;
  ConvGeometry g{};
  bool has_bias = false;

  std::vector<Tensor> backward(const Tensor& dy) override {
    const bool need_dx = detail::needs_grad(*this, 0), need_dw = detail::needs_grad(*this, 1);
    const bool need_db = has_bias && detail::needs_grad(*this, 2);
    const Tensor dyc = dy.contiguous();
    Tensor dx = need_dx ? Tensor::empty({g.N, g.C, g.H, g.W}, dy.dtype()) : Tensor();
    Tensor dw =
        need_dw ? Tensor::zeros({g.O, g.Cg, g.win.kernel_h, g.win.kernel_w}, dy.dtype()) : Tensor();
    Tensor db = need_db ? Tensor::empty({g.O}, dy.dtype()) : Tensor();
    visit_float(dy.dtype(), "conv2d_backward", [&]<class T>() {
      conv2d_backward(
          dyc.data<T>().data(), need_dw ? x.data<T>().data() : nullptr,
          need_dx ? w.data<T>().data() : nullptr, need_dx ? dx.data<T>().data() : nullptr,
          need_dw ? dw.data<T>().data() : nullptr, need_db ? db.data<T>().data() : nullptr, g);
    });
    std::vector<Tensor> grads{dx, dw};
    if (has_bias) {
      grads.push_back(db);
    }
    return grads;
  }
  std::string_view name() const override { return "conv2d"; }
  void release() override {
    x = Tensor();
    w = Tensor();
  }
};

}  // namespace

Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b,
                      const Conv2dParams& params) {
  const ConvGeometry g = conv_geometry(x, w, b, params);
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
  Tensor y = conv2d_forward(x.data(), w.data(), b.defined() ? b.data() : Tensor(), params);
  std::vector<Variable> inputs{x, w};
  if (b.defined()) {
    inputs.push_back(b);
  }
  if (!any_requires_grad(inputs)) {
    return Variable(std::move(y), false);
  }
  auto node = std::make_shared<Conv2dNode>();
  node->g = conv_geometry(x.data(), w.data(), b.defined() ? b.data() : Tensor(), params);
  if (w.requires_grad()) {
    node->x = x.data().contiguous();
  }
  if (x.requires_grad()) {
    node->w = w.data().contiguous();
  }
  node->has_bias = b.defined();
  return make_output(std::move(y), std::move(node), std::move(inputs));
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
  if (!is_floating(options.dtype)) {
    throw_not_floating("Conv2d", options.dtype);
  }
  Tensor w =
      Tensor::empty({out_channels, in_channels / G, kernel_size.h, kernel_size.w}, options.dtype);
  Tensor b = options.bias ? Tensor::empty({out_channels}, options.dtype) : Tensor();
  default_layer_init_(w, b, rng);
  weight_ = Variable(w, true);
  register_parameter("weight", &weight_);
  if (options.bias) {
    bias_ = Variable(b, true);
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
