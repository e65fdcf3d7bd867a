// core/im2col.cpp: im2col and col2im over one (C, H, W) image.
// Each row (c, i, j) of col is a strided copy of the input; the valid output columns of a kernel
// offset are computed once per row, so the inner loop has no bounds test.
#include "core/im2col.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"

namespace normlab {

namespace {

// The output positions o in [0, n_out) whose input index o·s − p + off lies in [0, n_in).
struct ValidRange {
  std::int64_t lo, hi;
};
ValidRange valid_range(std::int64_t n_in, std::int64_t n_out, std::int64_t s, std::int64_t off) {
  // o·s + off ≥ 0  ⇔  o ≥ ⌈−off / s⌉;   o·s + off ≤ n_in − 1  ⇔  o ≤ ⌊(n_in − 1 − off) / s⌋
  const auto ceil_div = [](std::int64_t a, std::int64_t b) {
    return a >= 0 ? (a + b - 1) / b : -((-a) / b);
  };
  const auto floor_div = [](std::int64_t a, std::int64_t b) {
    return a >= 0 ? a / b : -((-a + b - 1) / b);
  };
  const std::int64_t lo = std::clamp<std::int64_t>(ceil_div(-off, s), 0, n_out);
  const std::int64_t hi = std::min<std::int64_t>(n_out, floor_div(n_in - 1 - off, s) + 1);
  return {lo, std::max(lo, hi)};
}

}  // namespace

// A negative numerator means the window is larger than the padded input: no output position.
std::int64_t Window2d::out_h(std::int64_t H) const {
  const std::int64_t span = H + 2 * pad_h - dilation_h * (kernel_h - 1) - 1;
  return span < 0 ? 0 : span / stride_h + 1;
}
std::int64_t Window2d::out_w(std::int64_t W) const {
  const std::int64_t span = W + 2 * pad_w - dilation_w * (kernel_w - 1) - 1;
  return span < 0 ? 0 : span / stride_w + 1;
}

void check_window(std::string_view op, const Window2d& win) {
  if (win.kernel_h < 1 || win.kernel_w < 1 || win.stride_h < 1 || win.stride_w < 1 ||
      win.pad_h < 0 || win.pad_w < 0 || win.dilation_h < 1 || win.dilation_w < 1) {
    throw ValueError(
        fmt::format("{}: invalid window (kernel_size ({}, {}), stride ({}, {}), padding ({}, {}), "
                    "dilation ({}, {})); need kernel, stride, dilation >= 1 and padding >= 0",
                    op, win.kernel_h, win.kernel_w, win.stride_h, win.stride_w, win.pad_h,
                    win.pad_w, win.dilation_h, win.dilation_w));
  }
}

namespace {

// Row (c·kH + i)·kW + j of the column matrix: tap (i, j) of the kernel on channel c. Its output
// position (oh, ow) reads the input at (oh·s_h + off_h, ow·s_w + off_w), which lies inside the
// image only for oh in rh and ow in rw.
struct ColRow {
  std::int64_t c, index;
  std::int64_t off_h, off_w;  // i·d_h − p_h, j·d_w − p_w
  ValidRange rh, rw;
};

// Calls f(row) for every row of the column matrix of a (C, H, W) image: the loop nest that im2col
// and its adjoint col2im share. The valid ranges depend on the tap (i, j) only, so they are
// computed once per tap and the channels are the inner loop. For col2im the order of the sums
// into one pixel stays tap by tap, i before j, whatever the nesting.
template <class F>
void for_each_col_row(std::int64_t C, std::int64_t H, std::int64_t W, const Window2d& win, F&& f) {
  const std::int64_t oH = win.out_h(H), oW = win.out_w(W), taps = win.kernel_h * win.kernel_w;
  for (std::int64_t i = 0; i < win.kernel_h; ++i) {
    const std::int64_t off_h = i * win.dilation_h - win.pad_h;
    const ValidRange rh = valid_range(H, oH, win.stride_h, off_h);
    for (std::int64_t j = 0; j < win.kernel_w; ++j) {
      const std::int64_t off_w = j * win.dilation_w - win.pad_w;
      const ValidRange rw = valid_range(W, oW, win.stride_w, off_w);
      for (std::int64_t c = 0; c < C; ++c) {
        f(ColRow{.c = c,
                 .index = c * taps + i * win.kernel_w + j,
                 .off_h = off_h,
                 .off_w = off_w,
                 .rh = rh,
                 .rw = rw});
      }
    }
  }
}

// One row of col, output row by output row: the zero padding, then the valid run of the input row.
template <class T>
void gather_col_row(const T* xc, std::int64_t W, std::int64_t oH, std::int64_t oW,
                    const Window2d& win, const ColRow& r, T* row) {
  for (std::int64_t oh = 0; oh < oH; ++oh) {
    T* out = row + oh * oW;
    if (oh < r.rh.lo || oh >= r.rh.hi) {
      std::fill(out, out + oW, T{0});
      continue;
    }
    const T* xrow = xc + (oh * win.stride_h + r.off_h) * W;
    std::fill(out, out + r.rw.lo, T{0});
    if (win.stride_w == 1) {  // a contiguous run of the input row
      std::copy(xrow + r.rw.lo + r.off_w, xrow + r.rw.hi + r.off_w, out + r.rw.lo);
    } else {
      for (std::int64_t ow = r.rw.lo; ow < r.rw.hi; ++ow) {
        out[ow] = xrow[ow * win.stride_w + r.off_w];
      }
    }
    std::fill(out + r.rw.hi, out + oW, T{0});
  }
}

// The same row when stride is 1 and oW = W ("same" width): its valid part is the input plane
// shifted by off_h·W + off_w, so it is one contiguous copy, after which the entries that wrapped
// around from the neighbouring input row (|off_w| per row) are zeroed column by column. Small maps
// (8×8, 16×16) then cost one copy per row of col instead of one per output row.
template <class T>
void gather_col_row_shifted(const T* xc, std::int64_t W, std::int64_t oH, const ColRow& r, T* row) {
  std::fill(row, row + r.rh.lo * W, T{0});
  std::fill(row + r.rh.hi * W, row + oH * W, T{0});
  if (r.rh.lo == r.rh.hi || r.rw.lo == r.rw.hi) {  // the tap reads only padding
    std::fill(row + r.rh.lo * W, row + r.rh.hi * W, T{0});
    return;
  }
  // row[oh·W + ow] = xc[(oh + off_h)·W + ow + off_w] from (rh.lo, rw.lo) to (rh.hi − 1, rw.hi − 1)
  const std::int64_t first = r.rh.lo * W + r.rw.lo, last = (r.rh.hi - 1) * W + r.rw.hi;
  const std::int64_t shift = r.off_h * W + r.off_w;
  std::copy(xc + first + shift, xc + last + shift, row + first);
  const auto zero_column = [&](std::int64_t ow) {  // a strided write, not a fill call per row
    for (std::int64_t oh = r.rh.lo; oh < r.rh.hi; ++oh) {
      row[oh * W + ow] = T{0};
    }
  };
  for (std::int64_t ow = 0; ow < r.rw.lo; ++ow) {
    zero_column(ow);
  }
  for (std::int64_t ow = r.rw.hi; ow < W; ++ow) {
    zero_column(ow);
  }
}

}  // namespace

// col[(c·kH + i)·kW + j][oh·oW + ow] = x[c][oh·s_h − p_h + i·d_h][ow·s_w − p_w + j·d_w], 0 outside.
template <class T>
void im2col(const T* x, std::int64_t C, std::int64_t H, std::int64_t W, const Window2d& win, T* col,
            std::int64_t ld) {
  const std::int64_t oH = win.out_h(H), oW = win.out_w(W);
  const bool shifted = win.stride_h == 1 && win.stride_w == 1 && oW == W;
  for_each_col_row(C, H, W, win, [&](const ColRow& r) {
    const T* xc = x + r.c * H * W;
    T* row = col + r.index * ld;
    if (shifted) {
      gather_col_row_shifted(xc, W, oH, r, row);
    } else {
      gather_col_row(xc, W, oH, oW, win, r, row);
    }
  });
}

// dx[c][h][w] = Σ over (i, j, oh, ow) with oh·s_h − p_h + i·d_h = h and ow·s_w − p_w + j·d_w = w
//               of col[(c·kH + i)·kW + j][oh·oW + ow]                (the adjoint of im2col)
template <class T>
void col2im(const T* col, std::int64_t C, std::int64_t H, std::int64_t W, const Window2d& win,
            T* dx, std::int64_t ld) {
  const std::int64_t oW = win.out_w(W);
  std::fill(dx, dx + C * H * W, T{0});
  for_each_col_row(C, H, W, win, [&](const ColRow& r) {
    T* dxc = dx + r.c * H * W;
    const T* row = col + r.index * ld;
    for (std::int64_t oh = r.rh.lo; oh < r.rh.hi; ++oh) {
      const T* in = row + oh * oW;
      T* dxrow = dxc + (oh * win.stride_h + r.off_h) * W;
      if (win.stride_w == 1) {  // a contiguous run of the input row: a vector add (col and dx
                                // are separate buffers, which omp simd tells the compiler)
        const std::int64_t lo = r.rw.lo, hi = r.rw.hi, off_w = r.off_w;
#pragma omp simd
        for (std::int64_t ow = lo; ow < hi; ++ow) {
          dxrow[ow + off_w] += in[ow];
        }
      } else {
        for (std::int64_t ow = r.rw.lo; ow < r.rw.hi; ++ow) {
          dxrow[ow * win.stride_w + r.off_w] += in[ow];
        }
      }
    }
  });
}

template <class T>
void im2col(const T* x, std::int64_t C, std::int64_t H, std::int64_t W, const Window2d& win,
            T* col) {
  im2col(x, C, H, W, win, col, win.out_h(H) * win.out_w(W));
}

template <class T>
void col2im(const T* col, std::int64_t C, std::int64_t H, std::int64_t W, const Window2d& win,
            T* dx) {
  col2im(col, C, H, W, win, dx, win.out_h(H) * win.out_w(W));
}

template void im2col<float>(const float*, std::int64_t, std::int64_t, std::int64_t, const Window2d&,
                            float*, std::int64_t);
template void im2col<double>(const double*, std::int64_t, std::int64_t, std::int64_t,
                             const Window2d&, double*, std::int64_t);
template void col2im<float>(const float*, std::int64_t, std::int64_t, std::int64_t, const Window2d&,
                            float*, std::int64_t);
template void col2im<double>(const double*, std::int64_t, std::int64_t, std::int64_t,
                             const Window2d&, double*, std::int64_t);
template void im2col<float>(const float*, std::int64_t, std::int64_t, std::int64_t, const Window2d&,
                            float*);
template void im2col<double>(const double*, std::int64_t, std::int64_t, std::int64_t,
                             const Window2d&, double*);
template void col2im<float>(const float*, std::int64_t, std::int64_t, std::int64_t, const Window2d&,
                            float*);
template void col2im<double>(const double*, std::int64_t, std::int64_t, std::int64_t,
                             const Window2d&, double*);

namespace {
void check_output_size(std::string_view op, const Shape& image, const Window2d& win) {
  if (win.out_h(image[1]) < 1 || win.out_w(image[2]) < 1) {
    throw ShapeError(fmt::format(
        "{}: window (kernel ({}, {}), dilation ({}, {}), padding ({}, {})) does not fit the "
        "image (x: {})",
        op, win.kernel_h, win.kernel_w, win.dilation_h, win.dilation_w, win.pad_h, win.pad_w,
        to_string(image)));
  }
}
}  // namespace

Tensor im2col(const Tensor& x, const Window2d& win) {
  check_ndim("im2col", x, 3);
  check_window("im2col", win);
  check_output_size("im2col", x.shape(), win);
  const std::int64_t C = x.dim(0), H = x.dim(1), W = x.dim(2);
  const Tensor xc = x.contiguous();
  Tensor col =
      Tensor::empty({C * win.kernel_h * win.kernel_w, win.out_h(H) * win.out_w(W)}, x.dtype());
  visit_float(x.dtype(), "im2col",
              [&]<class T>() { im2col(xc.data<T>().data(), C, H, W, win, col.data<T>().data()); });
  return col;
}

Tensor col2im(const Tensor& col, const Shape& image_shape, const Window2d& win) {
  check_window("col2im", win);
  if (image_shape.size() != 3) {
    throw ShapeError(
        fmt::format("col2im: image shape must be (C, H, W), got {}", to_string(image_shape)));
  }
  check_valid_shape("col2im", image_shape);
  check_output_size("col2im", image_shape, win);
  const std::int64_t C = image_shape[0], H = image_shape[1], W = image_shape[2];
  const Shape want{C * win.kernel_h * win.kernel_w, win.out_h(H) * win.out_w(W)};
  if (col.shape() != want) {
    throw ShapeError(fmt::format("col2im: columns have shape {} but the image {} needs {}",
                                 to_string(col.shape()), to_string(image_shape), to_string(want)));
  }
  const Tensor cc = col.contiguous();
  Tensor dx = Tensor::empty(image_shape, col.dtype());
  visit_float(col.dtype(), "col2im",
              [&]<class T>() { col2im(cc.data<T>().data(), C, H, W, win, dx.data<T>().data()); });
  return dx;
}

}  // namespace normlab
