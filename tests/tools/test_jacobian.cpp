// normlab jacobian as functions (tools/jacobian.h): J from the hand-written backwards against
// central differences for the norms (train and eval), conv2d, linear and the poolings; against
// PyTorch goldens (tests/golden/jacobian/, tools/gen_jacobian_goldens.py); the per-set checks, the
// coupling and the spectrum on layers whose answer is known, a wrong J that the checks reject, and
// the picture's colours, outlines and labels.
#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <string>

#include "core/npy.h"
#include "core/random.h"
#include "tools/jacobian.h"

using namespace normlab;

namespace {

ProbeRequest request_for(const std::string& layer, LayerOptions options, const Shape& shape,
                         bool train = true, std::uint64_t seed = 7) {
  ProbeRequest r;
  r.layer = layer;
  r.options = std::move(options);
  r.train = train;
  r.seed = seed;
  Rng rng(seed);
  r.input = ProbeArray{"x", randn(shape, DType::f64, rng, 0.3, 1.5)};
  return r;
}

// Non-trivial γ, β and running statistics, so eval mode and the affine are exercised.
void randomize_state(ProbeRequest& r) {
  const std::unique_ptr<Module> layer = make_probe_layer(r, DType::f64);
  Rng rng(r.seed + 100);
  for (const auto& [name, p] : layer->named_parameters()) {
    r.state[name] = ProbeArray{name, randn(p->shape(), DType::f64, rng, 0.8, 0.4)};
  }
  for (const auto& [name, b] : layer->named_buffers()) {
    if (name.find("running") != std::string::npos) {
      const bool positive =
          name.find("var") != std::string::npos || name.find("std") != std::string::npos;
      r.state[name] =
          ProbeArray{name, positive ? rand_uniform(b->shape(), DType::f64, rng, 0.5, 2.0)
                                    : randn(b->shape(), DType::f64, rng, 0.0, 0.5)};
    }
  }
}

double max_rel_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double err = 0, scale = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    err = std::max(err, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return err / scale;
}

std::array<int, 3> pixel(const Image& img, std::int64_t x, std::int64_t y) {
  std::array<int, 3> p{};
  for (std::int64_t c = 0; c < 3; ++c) {
    p[static_cast<std::size_t>(c)] =
        img.pixels[static_cast<std::size_t>((c * img.H + y) * img.W + x)];
  }
  return p;
}

}  // namespace

TEST_CASE("jacobian rows from the backward match central differences", "[jacobian]") {
  const auto [layer, options, shape,
              train] = GENERATE(table<std::string, LayerOptions, Shape, bool>({
      {"batch_norm", {{"num_features", "3"}}, {4, 3, 2, 2}, true},
      {"batch_norm", {{"num_features", "3"}}, {4, 3, 2, 2}, false},
      // r and d are constants of the backward (BRN3-4); r_max = 1, d_max = 0 make them constant
      // in the forward too, so central differences see the same function.
      {"batch_renorm", {{"num_features", "2"}, {"r_max", "1"}, {"d_max", "0"}}, {3, 2, 2, 2}, true},
      {"layer_norm", {{"normalized_shape", "3x2x2"}}, {2, 3, 2, 2}, true},
      {"instance_norm", {{"num_features", "3"}, {"affine", "true"}}, {2, 3, 2, 3}, true},
      {"group_norm", {{"num_groups", "2"}, {"num_channels", "4"}}, {2, 4, 3, 1}, true},
      {"rms_norm", {{"normalized_shape", "5"}}, {3, 5}, true},
      {"local_response_norm", {{"size", "3"}, {"alpha", "0.5"}}, {2, 4, 2, 2}, true},
      {"conv2d",
       {{"in_channels", "2"},
        {"out_channels", "3"},
        {"kernel_size", "3"},
        {"padding", "1"},
        {"stride", "2"}},
       {2, 2, 5, 4},
       true},
      {"linear", {{"in_features", "5"}, {"out_features", "3"}}, {4, 5}, true},
      {"max_pool2d", {{"kernel_size", "2"}}, {2, 2, 4, 4}, true},
      {"avg_pool2d", {{"kernel_size", "3"}, {"stride", "2"}, {"padding", "1"}}, {1, 2, 5, 5}, true},
  }));
  CAPTURE(layer, train);
  ProbeRequest r = request_for(layer, options, shape, train);
  randomize_state(r);
  const Jacobian jac = compute_jacobian(r);
  REQUIRE(jac.cols == numel_from(shape, 0));
  REQUIRE(jac.max_abs() > 0);
  CHECK(max_rel_diff(jac.J, numeric_jacobian(r, 1e-6)) < 1e-7);
}

TEST_CASE("jacobian matches torch.autograd.functional.jacobian goldens", "[jacobian][golden]") {
  const auto [name, layer, options, train] =
      GENERATE(table<std::string, std::string, LayerOptions, bool>({
          {"batch_norm_train", "batch_norm", {{"num_features", "3"}}, true},
          {"batch_norm_eval", "batch_norm", {{"num_features", "3"}}, false},
          {"group_norm", "group_norm", {{"num_groups", "2"}, {"num_channels", "4"}}, true},
          {"conv2d",
           "conv2d",
           {{"in_channels", "2"}, {"out_channels", "3"}, {"kernel_size", "3"}, {"padding", "1"}},
           true},
      }));
  CAPTURE(name);
  const std::string dir = std::string(NORMLAB_SOURCE_DIR) + "/tests/golden/jacobian/" + name;
  ProbeRequest r;
  r.layer = layer;
  r.options = options;
  r.train = train;
  r.input = ProbeArray{dir + "/x.npy", read_npy(dir + "/x.npy")};
  r.state = read_probe_state(dir + "/params");
  const Jacobian jac = compute_jacobian(r);
  const Tensor want = read_npy(dir + "/jacobian.npy");
  REQUIRE(want.shape() == Shape{jac.rows, jac.cols});
  const auto w = want.data<double>();
  CHECK(max_rel_diff(jac.J, {w.begin(), w.end()}) < 1e-10);
}

TEST_CASE("jacobian set checks hold for the mean-subtracting norms", "[jacobian][summary]") {
  const auto [layer, options, samples, channels] =
      GENERATE(table<std::string, LayerOptions, std::int64_t, std::int64_t>({
          {"batch_norm", {{"num_features", "3"}}, 4, 1},
          {"layer_norm", {{"normalized_shape", "3x2x2"}}, 1, 3},
          {"instance_norm", {{"num_features", "3"}, {"affine", "true"}}, 1, 1},
          {"group_norm", {{"num_groups", "3"}, {"num_channels", "6"}}, 1, 2},
      }));
  CAPTURE(layer);
  const Shape shape = layer == "group_norm" ? Shape{4, 6, 2, 2} : Shape{4, 3, 2, 2};
  ProbeRequest r = request_for(layer, options, shape);
  randomize_state(r);
  const Jacobian jac = compute_jacobian(r);
  const std::unique_ptr<Module> m = make_probe_layer(r, DType::f64);
  const auto sets = reduction_sets(layer, r.options, *m, jac.x);
  REQUIRE(sets.has_value());
  const SetChecks c = check_sets(jac, *sets);
  CHECK(c.ones < 1e-13);           // D6
  CHECK(c.xhat > 1e-9);            // eps = 1e-5: J·x̂ is small but not zero ...
  CHECK(c.xhat_residual < 1e-13);  // ... it is exactly γ·rstd·eps/(σ²+eps)·x̂ (D7)
  CHECK(c.asymmetry < 1e-13);
  CHECK(c.outside == 0.0);
  const Coupling k = jacobian_coupling(jac);
  CHECK(k.samples == samples);
  CHECK(k.channels == channels);
  CHECK(k.positions == 4);
  CHECK(k.across_samples == (layer == "batch_norm"));
}

TEST_CASE("jacobian set checks fail where they should", "[jacobian][summary]") {
  SECTION("eval-mode BatchNorm: constant statistics, J diagonal, J·1 ≠ 0") {
    ProbeRequest r = request_for("batch_norm", {{"num_features", "2"}}, {3, 2, 2, 1}, false);
    randomize_state(r);
    const Jacobian jac = compute_jacobian(r);
    const auto m = make_probe_layer(r, DType::f64);
    const SetChecks c = check_sets(jac, *reduction_sets("batch_norm", r.options, *m, jac.x));
    CHECK(c.ones > 1e-2);
    CHECK(c.xhat_residual > 1e-2);
    CHECK(c.asymmetry < 1e-15);  // diagonal
    CHECK(jacobian_coupling(jac).samples == 1);
  }
  SECTION("RMSNorm: no mean term, so J·1 ≠ 0, but J·x̂ is the eps term") {
    ProbeRequest r = request_for("rms_norm", {{"normalized_shape", "6"}}, {3, 6});
    const Jacobian jac = compute_jacobian(r);
    const auto m = make_probe_layer(r, DType::f64);
    const SetChecks c = check_sets(jac, *reduction_sets("rms_norm", r.options, *m, jac.x));
    CHECK(c.ones > 1e-2);
    CHECK(c.xhat_residual < 1e-13);
  }
  SECTION("a Jacobian without the mean term (the classic bug) fails D6") {
    ProbeRequest r = request_for("layer_norm", {{"normalized_shape", "5"}}, {2, 5});
    Jacobian jac = compute_jacobian(r);
    const auto m = make_probe_layer(r, DType::f64);
    const auto sets = reduction_sets("layer_norm", r.options, *m, jac.x);
    for (std::int64_t k = 0; k < jac.rows; ++k) {
      for (std::int64_t i = 0; i < jac.cols; ++i) {
        if (sets->set_of(k) == sets->set_of(i)) {  // add back rstd/m: drops D2
          jac.J[static_cast<std::size_t>(k * jac.cols + i)] +=
              sets->rstd[static_cast<std::size_t>(sets->set_of(k))] / 5.0;
        }
      }
    }
    CHECK(check_sets(jac, *sets).ones > 1e-2);
  }
}

TEST_CASE("jacobian spectrum of a norm set is rstd times a projection", "[jacobian][summary]") {
  // eps → 0: per set the eigenvalues are 0 (direction 1), ~0 (direction x̂) and rstd (m − 2 times).
  ProbeRequest r = request_for(
      "layer_norm", {{"normalized_shape", "6"}, {"eps", "1e-12"}, {"elementwise_affine", "false"}},
      {3, 6});
  const Jacobian jac = compute_jacobian(r);
  const Spectrum sp = jacobian_spectrum(jac);
  CHECK(sp.blocks == 3);
  REQUIRE(sp.singular_values.size() == 18);
  REQUIRE(sp.eigenvalues.size() == 18);
  CHECK(sp.rank(1e-6) == std::int64_t{3} * (6 - 2));
  const auto m = make_probe_layer(r, DType::f64);
  const auto sets = reduction_sets("layer_norm", r.options, *m, jac.x);
  std::vector<double> want;
  for (const double rstd : sets->rstd) {
    want.insert(want.end(), 4, rstd);
  }
  std::sort(want.begin(), want.end(), std::greater<>());
  for (std::size_t i = 0; i < want.size(); ++i) {
    CHECK(sp.eigenvalues[i].real() == Approx(want[i]).epsilon(1e-9));
    CHECK(sp.singular_values[i] == Approx(want[i]).epsilon(1e-9));
  }
  CHECK(spectrum_csv(sp).rfind("index,singular_value,eigenvalue_real,eigenvalue_imag\n", 0) == 0);
}

TEST_CASE("jacobian picture: diverging colours, white zeros, outlined sets, labels",
          "[jacobian][png]") {
  ProbeRequest r = request_for("batch_norm", {{"num_features", "2"}}, {2, 2, 2, 1});
  const Jacobian jac = compute_jacobian(r);
  const auto m = make_probe_layer(r, DType::f64);
  const auto sets = reduction_sets("batch_norm", r.options, *m, jac.x);
  const Image img = render_jacobian(jac, sets, "batch_norm");
  REQUIRE(img.C == 3);
  // 8 x 8 entries of 24 pixels (the largest cell), heatmap at (80, 64).
  const auto centre = [&](std::int64_t row, std::int64_t col) {
    return pixel(img, 80 + col * 24 + 12, 64 + row * 24 + 12);
  };
  const auto diag = centre(0, 0);  // ∂y_0/∂x_0 = rstd·(1 − 1/m − x̂²/m) > 0: red
  CHECK(diag[0] > diag[2] + 50);
  const auto zero = centre(0, 2);  // x_2 is channel 1 of sample 0: another set, J = 0: white
  CHECK(zero == std::array<int, 3>{255, 255, 255});
  const auto outline = pixel(img, 80, 64 + 12);  // the left edge of the first S_i block
  CHECK(outline == std::array<int, 3>{0, 0, 0});
  std::int64_t dark = 0;  // the sample and channel labels in the left margin
  for (std::int64_t y = 64; y < 64 + 8 * 24; ++y) {
    for (std::int64_t x = 0; x < 60; ++x) {
      dark += pixel(img, x, y)[0] < 100;
    }
  }
  CHECK(dark > 20);
  // Negative entries are blue: the sum of a row is 0 (D6), so some entry of row 0 is negative.
  bool blue = false;
  for (std::int64_t col = 0; col < 8; ++col) {
    const auto p = centre(0, col);
    blue = blue || p[2] > p[0] + 50;
  }
  CHECK(blue);
}

TEST_CASE("jacobian picture of a large J bins entries and keeps its proportions",
          "[jacobian][png]") {
  // 1,200 elements: more than 1,024, so each pixel shows a 2 x 2 block of entries.
  ProbeRequest r =
      request_for("group_norm", {{"num_groups", "2"}, {"num_channels", "4"}}, {2, 4, 10, 15});
  const Jacobian jac = compute_jacobian(r);
  const auto m = make_probe_layer(r, DType::f64);
  const Image img = render_jacobian(jac, reduction_sets("group_norm", r.options, *m, jac.x), "gn");
  CHECK(img.W == 80 + 600 + 110);
  CHECK(img.H == 64 + 600 + 44);
  // The off-diagonal quarter (sample 0 rows, sample 1 columns) is zero: white.
  CHECK(pixel(img, 80 + 460, 64 + 140) == std::array<int, 3>{255, 255, 255});
}
