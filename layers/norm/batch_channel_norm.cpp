// layers/norm/batch_channel_norm.cpp: estimated batch norm, channel norm and their composition.
// Equations BCN1–BCN9: docs/normalization/batch_channel_norm.md; D0–D5:
// docs/normalization/derivation.md. Channel norm runs on the family's fused kernels (set_norm.h).
#include "layers/norm/batch_channel_norm.h"

#include <fmt/format.h>

#include "autograd/node.h"
#include "core/error.h"
#include "layers/norm/batch_channel_kernels.h"
#include "layers/norm/group_norm.h"
#include "layers/norm/set_norm.h"

namespace normlab {

// ---- estimated batch norm ----

namespace {

// γ's shape (C), once channels and eps are valid.
Shape checked_estimated_batch_norm_params(std::int64_t channels, double eps) {
  if (channels <= 0) {
    throw ValueError(
        fmt::format("estimated_batch_norm: channels must be positive (channels: {})", channels));
  }
  check_eps("estimated_batch_norm", eps);
  return {channels};
}

}  // namespace

EstimatedBatchNorm::EstimatedBatchNorm(std::int64_t channels,
                                       const EstimatedBatchNormOptions& options)
    : AffineNorm(checked_estimated_batch_norm_params(channels, options.eps), options.dtype,
                 options.affine),
      channels_(channels),
      options_(options) {
  init_running_stats(running_mean_, running_var_, nullptr, channels, options.dtype);
  register_buffer("running_mean", &running_mean_);
  register_buffer("running_var", &running_var_);
}

Variable EstimatedBatchNorm::normalize(const Variable& x, const Variable& weight,
                                       const Variable& bias) {
  constexpr std::string_view kOp = "estimated_batch_norm";
  check_channels(kOp, x.data(), kChannelsFirstRank, channels_);
  if (!is_training()) {  // eq. BCN2 with the estimates as they are
    return batch_norm_with_constants(x, to_doubles(running_mean_),
                                     rstd_from_var(to_doubles(running_var_), options_.eps), weight,
                                     bias);
  }
  // eq. BCN1: μ̂ ← (1 − r)·μ̂ + r·μ_B,  σ̂² ← (1 − r)·σ̂² + r·σ²_B   (no gradient through them),
  // then eq. BCN2 with the constants μ̂ and rstd̂ = 1/sqrt(σ̂² + ε): one sweep of x per channel
  // (set_norm_kernels.h, StatsRule::moving_average), which rounds μ̂ and σ̂² as the buffers do.
  const MovingEstimates before = estimates_before_step();
  SetStats batch;
  Variable y = set_norm_with_rule("batch_norm_eval", x, batch_norm_plan(x.shape()), before.rule(),
                                  weight, bias, options_.eps, &batch, nullptr);
  move_estimates(batch.mean, batch.var);
  return y;
}

StatsRule EstimatedBatchNorm::MovingEstimates::rule() const {
  return {.kind = StatsRule::Kind::moving_average,
          .running_mean = mean.data(),
          .running_scale = var.data(),
          .momentum = momentum,
          .round_to_float = round_to_float};
}

EstimatedBatchNorm::MovingEstimates EstimatedBatchNorm::estimates_before_step() const {
  return {.mean = to_doubles(running_mean_),
          .var = to_doubles(running_var_),
          .momentum = options_.momentum,
          .round_to_float = running_mean_.dtype() == DType::f32};
}

void EstimatedBatchNorm::move_estimates(const std::vector<double>& batch_mean,
                                        const std::vector<double>& batch_var) {
  blend_(running_mean_, batch_mean, options_.momentum);
  blend_(running_var_, batch_var, options_.momentum);
}

std::string EstimatedBatchNorm::extra_repr() const {
  return fmt::format("{}, eps={}, momentum={}, affine={}", channels_, options_.eps,
                     options_.momentum, options_.affine ? "True" : "False");
}

// ---- channel norm ----

namespace {

// (N, G, (C/G)·HW): one set per group, across the batch; the layout of the per-group affine.
SetLayout group_affine_layout(const Shape& s, std::int64_t G) {
  return {.outer = s[0], .sets = G, .inner = (s[1] / G) * numel_from(s, 2)};
}

}  // namespace

// forward, eq. BCN3–BCN5: group_norm with GroupAffine::per_group (group_norm.cpp), x (N, C, HW)
// normalized over GroupNorm's sets (1, N·G, (C/G)·HW), the parameter of set (n, g) is g:
//   x̂ = (x − μ_ng)·rstd_ng,  y = γ_g·x̂ + β_g
// backward, eq. BCN6–BCN9, given dy and x:
//   step 1  dβ_g = Σ_{n, c∈g, hw} dy      dγ_g = Σ_{n, c∈g, hw} dy·x̂   (per group, eq. BCN6, BCN7)
//   step 2  g    = γ_g·dy                                           (∂L/∂x̂, eq. BCN8)
//   step 3  dx   = rstd_ng/m · (m·g − Σ g − x̂·Σ g·x̂) per (n, g)      (eq. BCN9, which is D4)
NormGrads channel_norm_backward_reference(const Tensor& x, const Tensor& dy, std::int64_t G,
                                          const Tensor& gamma, double eps) {
  const SetLayout groups = group_norm_layout(x.shape(), G);
  const SetLayout affine = group_affine_layout(x.shape(), G);
  const NormalizedInput n = normalize_reference(x, groups, eps);  // eq. BCN3, BCN4
  NormGrads grads = affine_grads_reference(dy, n.xhat, affine);   // step 1
  const Tensor g = scale_reference(dy, gamma, affine);            // step 2
  grads.dx = normalize_backward_reference(g, n, groups);          // step 3
  return grads;
}

std::string ChannelNorm::extra_repr() const {
  return fmt::format("{}, {}, eps={}, affine={}", num_channels(), num_groups(), options().eps,
                     options().affine ? "True" : "False");
}

// ---- batch-channel norm ----

namespace {

// Saves x, the statistics of batch_channel_kernels.h and γ_g; its backward is eq. BCN14, BCN15.
struct BatchChannelNode final : Node {
  BatchChannelDims dims;
  Tensor x, cn_gamma;
  BatchChannelStats stats;
  Shape bn_shape, cn_shape;

  std::vector<Tensor> backward(const Tensor& dy_in) override {
    const Tensor dy = dy_in.contiguous();
    Tensor dx = Tensor::empty(x.shape(), x.dtype());
    BatchChannelGrads grads;
    visit_float(x.dtype(), name(), [&]<class T>() {
      batch_channel_backward(dims, dy.data<T>().data(), x.data<T>().data(),
                             data_or_null<T>(cn_gamma), stats, dx.data<T>().data(), grads);
    });
    const DType t = x.dtype();
    return {dx, to_tensor(grads.dbn_gamma, t).view(bn_shape),
            to_tensor(grads.dbn_beta, t).view(bn_shape),
            to_tensor(grads.dcn_gamma, t).view(cn_shape),
            to_tensor(grads.dcn_beta, t).view(cn_shape)};
  }
  std::string_view name() const override { return "batch_channel_norm"; }
  void release() override { x = cn_gamma = Tensor(); }
};

}  // namespace

// forward, training with estimates, fused (eq. BCN10–BCN13, batch_channel_kernels.h): the same y
// as channel_norm(estimated_batch_norm(x)) without writing y1, and the same moves of μ̂ and σ̂².
Variable BatchChannelNorm::forward_fused(const Variable& x, const Variable& bn_weight,
                                         const Variable& bn_bias, const Variable& cn_weight,
                                         const Variable& cn_bias) {
  constexpr std::string_view kOp = "batch_channel_norm";
  const Tensor xc = x.data().contiguous();
  check_channels(kOp, xc, kChannelsFirstRank, channels_);
  const Shape& s = xc.shape();
  const BatchChannelDims dims{.N = s[0], .C = s[1], .G = groups_, .L = numel_from(s, 2)};
  const Tensor bn_gamma = affine_tensor(kOp, bn_weight, xc, channels_, "batch_norm.weight"),
               bn_beta = affine_tensor(kOp, bn_bias, xc, channels_, "batch_norm.bias"),
               cn_gamma = affine_tensor(kOp, cn_weight, xc, groups_, "channel_norm.weight"),
               cn_beta = affine_tensor(kOp, cn_bias, xc, groups_, "channel_norm.bias");
  auto& bn = static_cast<EstimatedBatchNorm&>(*batch_norm_);
  const EstimatedBatchNorm::MovingEstimates before = bn.estimates_before_step();
  const StatsRule rule = before.rule();
  BatchChannelStats stats;
  Tensor y = Tensor::empty(s, xc.dtype());
  visit_float(xc.dtype(), kOp, [&]<class T>() {
    batch_channel_forward(dims, xc.data<T>().data(), rule, data_or_null<T>(bn_gamma),
                          data_or_null<T>(bn_beta), data_or_null<T>(cn_gamma),
                          data_or_null<T>(cn_beta), options_.eps, stats, y.data<T>().data());
  });
  bn.move_estimates(stats.batch_mean, stats.batch_var);
  std::shared_ptr<BatchChannelNode> node;
  const std::vector<Variable> inputs{x, bn_weight, bn_bias, cn_weight, cn_bias};
  if (any_requires_grad(inputs)) {
    node = std::make_shared<BatchChannelNode>();
    node->dims = dims;
    node->x = xc;
    node->cn_gamma = cn_gamma;
    node->stats = std::move(stats);
    node->bn_shape = {channels_};
    node->cn_shape = {groups_};
  }
  return make_output(y, node, inputs);
}

bool BatchChannelNorm::fuses(const Tensor& x) const {
  return is_training() && options_.estimate && x.numel() > 0;
}

BatchChannelNorm::BatchChannelNorm(std::int64_t channels, std::int64_t groups,
                                   const BatchChannelNormOptions& options)
    : channels_(channels), groups_(groups), options_(options) {
  channel_norm_ = std::make_unique<ChannelNorm>(
      channels, groups, ChannelNormOptions{.eps = options.eps, .dtype = options.dtype});
  if (options.estimate) {
    batch_norm_ = std::make_unique<EstimatedBatchNorm>(
        channels, EstimatedBatchNormOptions{
                      .eps = options.eps, .momentum = options.momentum, .dtype = options.dtype});
  } else {
    batch_norm_ = std::make_unique<BatchNorm>(
        channels,
        BatchNormOptions{.eps = options.eps, .momentum = options.momentum, .dtype = options.dtype});
  }
  register_module("batch_norm", batch_norm_.get());
  register_module("channel_norm", channel_norm_.get());
}

Variable BatchChannelNorm::forward(const Variable& x) {
  if (fuses(x.data())) {
    auto& bn = static_cast<EstimatedBatchNorm&>(*batch_norm_);
    return forward_fused(x, bn.weight(), bn.bias(), channel_norm_->weight(), channel_norm_->bias());
  }
  return channel_norm_->forward(batch_norm_->forward(x));
}

Tensor BatchChannelNorm::forward_no_grad(const Tensor& x) {
  if (fuses(x)) {
    auto& bn = static_cast<EstimatedBatchNorm&>(*batch_norm_);
    return forward_fused(Variable(x), frozen(bn.weight()), frozen(bn.bias()),
                         frozen(channel_norm_->weight()), frozen(channel_norm_->bias()))
        .data();
  }
  return channel_norm_->forward_no_grad(batch_norm_->forward_no_grad(x));
}

std::string BatchChannelNorm::extra_repr() const {
  return fmt::format("{}, {}, eps={}, momentum={}, estimate={}", channels_, groups_, options_.eps,
                     options_.momentum, options_.estimate ? "True" : "False");
}

}  // namespace normlab
