// tools/jacobian_png.cpp: jacobian.png, J as a heatmap with the reduction sets outlined.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/shape.h"
#include "datasets/preview.h"
#include "tools/jacobian.h"

namespace normlab {

namespace {

using Rgb = std::uint8_t[3];
constexpr Rgb kRed = {178, 24, 43};    // J > 0
constexpr Rgb kBlue = {33, 102, 172};  // J < 0
constexpr Rgb kBlack = {0, 0, 0};
constexpr Rgb kSample = {90, 90, 90};
constexpr Rgb kChannel = {200, 200, 200};

void put(Image& img, std::int64_t x, std::int64_t y, const std::uint8_t* rgb) {
  if (x < 0 || y < 0 || x >= img.W || y >= img.H) {
    return;
  }
  for (std::int64_t c = 0; c < 3; ++c) {
    img.pixels[static_cast<std::size_t>((c * img.H + y) * img.W + x)] = rgb[c];
  }
}

// t in [−1, 1]: white at 0, kBlue at −1, kRed at +1, linear in between.
void diverging(double t, std::uint8_t* rgb) {
  const std::uint8_t* end = t < 0 ? kBlue : kRed;
  const double a = std::min(1.0, std::abs(t));
  for (int c = 0; c < 3; ++c) {
    rgb[c] = static_cast<std::uint8_t>(std::lround(255.0 + a * (end[c] - 255.0)));
  }
}

void hline(Image& img, std::int64_t x0, std::int64_t x1, std::int64_t y, const std::uint8_t* rgb) {
  for (std::int64_t x = x0; x <= x1; ++x) {
    put(img, x, y, rgb);
  }
}

void vline(Image& img, std::int64_t x, std::int64_t y0, std::int64_t y1, const std::uint8_t* rgb) {
  for (std::int64_t y = y0; y <= y1; ++y) {
    put(img, x, y, rgb);
  }
}

// Maximal runs [begin, end) of consecutive flat indices in the same set.
std::vector<std::pair<std::int64_t, std::int64_t>> runs(const ReductionSets& sets, std::int64_t n) {
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  for (std::int64_t k = 0; k < n; ++k) {
    if (out.empty() || sets.set_of(out.back().first) != sets.set_of(k)) {
      out.emplace_back(k, k + 1);
    } else {
      out.back().second = k + 1;
    }
  }
  return out;
}

// Sample (axis 0) and channel (axis 1) of a flattened shape: element counts per sample/channel.
struct Axes {
  std::int64_t N = 1, C = 1, per_sample = 1, per_channel = 1;
  explicit Axes(const Shape& s) {
    const std::int64_t n = numel_from(s, 0);
    N = s.empty() ? 1 : s[0];
    C = s.size() < 3 ? 1 : s[1];  // (N, F) has features, not channels worth a rule
    per_sample = std::max<std::int64_t>(1, n / std::max<std::int64_t>(1, N));
    per_channel = std::max<std::int64_t>(1, per_sample / C);
  }
};

}  // namespace

Image render_jacobian(const Jacobian& jac, const std::optional<ReductionSets>& sets,
                      const std::string& title) {
  const std::int64_t n = std::max(jac.rows, jac.cols);
  const std::int64_t bin = n > 1024 ? (n + 1023) / 1024 : 1;  // entries per pixel
  const std::int64_t cell = bin > 1 ? 1 : std::clamp<std::int64_t>(720 / n, 1, 24);
  const auto px = [&](std::int64_t k) { return k * cell / bin; };  // entry → pixel offset
  const std::int64_t L = 80, T = 64, hw = px(jac.cols), hh = px(jac.rows);
  const std::int64_t bh = std::max<std::int64_t>(hh, 60);  // the colour bar's height
  Image img;
  img.C = 3;
  img.W = std::max<std::int64_t>(L + hw + 110, 640);
  img.H = T + bh + 44;
  img.pixels.assign(static_cast<std::size_t>(3 * img.W * img.H), 255);

  // The heatmap: colour ∝ sign(J)·sqrt(|J| / max|J|), the largest-magnitude entry of each bin.
  const double scale = jac.max_abs();
  std::uint8_t rgb[3];
  for (std::int64_t r = 0; r < jac.rows; r += bin) {
    for (std::int64_t c = 0; c < jac.cols; c += bin) {
      double v = 0;
      for (std::int64_t a = r; a < std::min(r + bin, jac.rows); ++a) {
        for (std::int64_t b = c; b < std::min(c + bin, jac.cols); ++b) {
          v = std::abs(jac.at(a, b)) > std::abs(v) ? jac.at(a, b) : v;
        }
      }
      const double t = scale > 0 ? std::copysign(std::sqrt(std::abs(v) / scale), v) : 0.0;
      diverging(t, rgb);
      for (std::int64_t y = px(r); y < px(std::min(r + bin, jac.rows)); ++y) {
        for (std::int64_t x = px(c); x < px(std::min(c + bin, jac.cols)); ++x) {
          put(img, L + x, T + y, rgb);
        }
      }
    }
  }

  // Rules and labels: channels light, samples dark; columns are x's axes, rows are y's.
  const Axes ax(jac.x.shape()), ay(jac.y_shape);
  for (const bool columns : {true, false}) {
    const Axes& a = columns ? ax : ay;
    const std::int64_t count = columns ? jac.cols : jac.rows;
    for (std::int64_t k = 0; k <= count; k += a.per_channel) {
      const bool sample = k % a.per_sample == 0;
      if (!sample && px(a.per_channel) < 4) {
        continue;
      }
      const std::uint8_t* colour = sample ? kSample : kChannel;
      if (columns) {
        vline(img, L + px(k), T - (sample ? 24 : 10), T + hh, colour);
      } else {
        hline(img, L - (sample ? 40 : 14), L + hw, T + px(k), colour);
      }
      if (k == count) {
        continue;
      }
      const std::int64_t span = px(sample ? a.per_sample : a.per_channel);
      const std::int64_t ci = (k / a.per_channel) % a.C;
      if (sample) {
        const std::string text = fmt::format("n{}", k / a.per_sample);
        if (columns && span >= text_width(text) + 2) {
          draw_text(img, L + px(k) + 2, T - 36, text, kBlack);
        } else if (!columns && span >= 10) {
          draw_text(img, L - 40, T + px(k) + 2, text, kBlack);
        }
      }
      if (a.C > 1) {
        const std::string text = fmt::format("c{}", ci);
        if (columns && px(a.per_channel) >= text_width(text) + 2) {
          draw_text(img, L + px(k) + 2, T - 20, text, kBlack);
        } else if (!columns && px(a.per_channel) >= 10) {
          draw_text(img, L - 20, T + px(k) + 2, text, kBlack);
        }
      }
    }
  }

  // The blocks S_i × S_i: every pair of runs of one set, outlined.
  if (sets && jac.rows == jac.cols) {
    const auto rs = runs(*sets, jac.rows);
    for (const auto& [r0, r1] : rs) {
      for (const auto& [c0, c1] : rs) {
        if (sets->set_of(r0) != sets->set_of(c0)) {
          continue;
        }
        const std::int64_t x0 = L + px(c0), x1 = L + px(c1), y0 = T + px(r0), y1 = T + px(r1);
        hline(img, x0, x1, y0, kBlack);
        hline(img, x0, x1, y1, kBlack);
        vline(img, x0, y0, y1, kBlack);
        vline(img, x1, y0, y1, kBlack);
      }
    }
  }

  // Title, colour bar, legend.
  draw_text(img, 8, 6, title, kBlack);
  const std::int64_t bx = L + hw + 20;
  for (std::int64_t y = 0; y < bh; ++y) {
    diverging(1.0 - 2.0 * static_cast<double>(y) / static_cast<double>(bh - 1), rgb);
    hline(img, bx, bx + 14, T + y, rgb);
  }
  draw_text(img, bx + 18, T - 4, fmt::format("{:.3g}", scale), kBlack);
  draw_text(img, bx + 18, T + bh / 2 - 6, "0", kBlack);
  draw_text(img, bx + 18, T + bh - 10, fmt::format("{:.3g}", -scale), kBlack);
  const std::int64_t ly = T + bh + 8;
  draw_text(img, 8, ly,
            "rows: outputs y, columns: inputs x (flattened row-major); n: sample, c: channel",
            kBlack);
  draw_text(img, 8, ly + 14,
            sets ? "black boxes: S_i x S_i of each reduction set; colour: sign(J) sqrt(|J|/max|J|)"
                 : "colour: sign(J) sqrt(|J|/max|J|), white = 0",
            kBlack);
  return img;
}

}  // namespace normlab
