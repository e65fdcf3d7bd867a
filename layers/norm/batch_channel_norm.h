// layers/norm/batch_channel_norm.h: Batch-Channel Normalization (Qiao et al. 2019, "Micro-Batch
// Training with Batch-Channel Normalization and Weight Standardization", arXiv:1903.10520), as
// labml implements it (labml_nn/normalization/batch_channel_norm): a batch normalization, by
// default with estimated statistics, followed by a channel normalization, which is GroupNorm with a
// per-group (not per-channel) affine. docs/normalization/batch_channel_norm.md
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "layers/norm/affine_norm.h"
#include "layers/norm/batch_norm.h"
#include "layers/norm/group_norm.h"
#include "layers/norm/set_norm_kernels.h"

namespace normlab {

// ---- estimated batch norm: normalizes with moving averages, even in training ----

struct EstimatedBatchNormOptions {
  double eps = 1e-5;
  double momentum = 0.1;
  bool affine = true;
  DType dtype = DType::f32;
};

// Training first moves the estimates toward the batch (eq. BCN1, no gradient through them), then
// both modes compute y = γ_c·(x − μ̂_c)/sqrt(σ̂²_c + ε) + β_c (eq. BCN2) with BatchNorm's
// eval-mode node: dx = γ_c·rstd̂_c·dy (eq. BN10). σ̂² moves toward the biased batch variance.
// γ, β (C): AffineNorm.
class EstimatedBatchNorm final : public AffineNorm {
 public:
  explicit EstimatedBatchNorm(std::int64_t channels, const EstimatedBatchNormOptions& options = {});

  std::string type_name() const override { return "EstimatedBatchNorm"; }
  std::string extra_repr() const override;

  Tensor& running_mean() noexcept { return running_mean_; }  // μ̂ (C), labml's exp_mean
  Tensor& running_var() noexcept { return running_var_; }    // σ̂² (C), labml's exp_var

  // A training step's eq. BCN1, for the kernels that normalize with the moved estimates inside
  // their sweep (StatsRule::moving_average): the estimates before the step and the rule that
  // moves them toward a set's batch statistics, rounding as the buffers do...
  struct MovingEstimates {
    std::vector<double> mean, var;
    double momentum;
    bool round_to_float;
    StatsRule rule() const;
  };
  MovingEstimates estimates_before_step() const;
  // ...and, once the batch's statistics (C) are known, the buffers moved toward them.
  void move_estimates(const std::vector<double>& batch_mean, const std::vector<double>& batch_var);

 private:
  Variable normalize(const Variable& x, const Variable& weight, const Variable& bias) override;

  std::int64_t channels_;
  EstimatedBatchNormOptions options_;
  Tensor running_mean_, running_var_;
};

// ---- channel norm: group statistics, per-group affine ----

// GroupNorm's options: the same sets, only the affine's layout differs.
using ChannelNormOptions = GroupNormOptions;

// The op of ChannelNorm is group_norm(x, G, γ, β, ε, GroupAffine::per_group): y = γ_g·x̂ + β_g with
// x̂ normalized over each (sample, group) as in GroupNorm (eq. BCN3, BCN4) and the affine per group
// g (eq. BCN5). Its backward, eq. BCN6–BCN9, written out step by step with the readable primitives
// of norm_core.h; the tests hold the fused kernels against it.
NormGrads channel_norm_backward_reference(const Tensor& x, const Tensor& dy, std::int64_t G,
                                          const Tensor& gamma, double eps);

// γ, β (G): GroupedNorm with the per-group affine.
class ChannelNorm final : public GroupedNorm {
 public:
  // labml's argument order: ChannelNorm(channels, groups). ShapeError unless groups divides
  // channels.
  ChannelNorm(std::int64_t channels, std::int64_t groups, const ChannelNormOptions& options = {})
      : GroupedNorm(groups, channels, GroupAffine::per_group, options) {}

  std::string type_name() const override { return "ChannelNorm"; }
  std::string extra_repr() const override;  // "6, 2, eps=1e-05, affine=True": channels, groups
};

// ---- batch-channel norm ----

struct BatchChannelNormOptions {
  double eps = 1e-5;
  double momentum = 0.1;
  bool estimate = true;  // EstimatedBatchNorm (labml's default) or a plain BatchNorm
  DType dtype = DType::f32;
};

// Children "batch_norm" (EstimatedBatchNorm, or BatchNorm when estimate is false) and
// "channel_norm" (ChannelNorm). Input (N, C, *). Training with estimates runs the two as one fused
// op (batch_channel_kernels.h, eq. BCN10–BCN15), with the children's parameters and buffers; eval
// mode and estimate = false run channel_norm(batch_norm(x)).
class BatchChannelNorm final : public Module {
 public:
  BatchChannelNorm(std::int64_t channels, std::int64_t groups,
                   const BatchChannelNormOptions& options = {});

  Variable forward(const Variable& x) override;
  Tensor forward_no_grad(const Tensor& x) override;
  std::string type_name() const override { return "BatchChannelNorm"; }
  std::string extra_repr() const override;

  Module& batch_norm() noexcept { return *batch_norm_; }
  ChannelNorm& channel_norm() noexcept { return *channel_norm_; }

 private:
  std::int64_t channels_, groups_;
  BatchChannelNormOptions options_;
  // Whether forward takes the fused path: training, with estimates, and x not empty.
  bool fuses(const Tensor& x) const;
  // The fused training forward with the given γ1, β1 (C) and γ_g, β_g (G); moves the estimates.
  Variable forward_fused(const Variable& x, const Variable& bn_weight, const Variable& bn_bias,
                         const Variable& cn_weight, const Variable& cn_bias);

  std::unique_ptr<Module> batch_norm_;
  std::unique_ptr<ChannelNorm> channel_norm_;
};

}  // namespace normlab
