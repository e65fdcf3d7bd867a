#include "layers/optim/schedule.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"

namespace normlab {

namespace {

void check_lr(std::string_view op, double lr) {
  if (!(lr >= 0.0) || !std::isfinite(lr)) {
    throw ValueError(
        fmt::format("{}: invalid learning rate {} (need a finite value >= 0)", op, lr));
  }
}

void check_t(std::string_view op, std::int64_t t) {
  if (t < 0) {
    throw ValueError(fmt::format("{}: step {} is negative", op, t));
  }
}

}  // namespace

ConstantLr::ConstantLr(double base_lr) : base_lr_(base_lr) {
  check_lr("constant_lr", base_lr);
}

double ConstantLr::lr_at(std::int64_t t) const {
  check_t("constant_lr", t);
  return base_lr_;
}

std::string ConstantLr::describe() const {
  return fmt::format("constant({})", base_lr_);
}

MultiStepLr::MultiStepLr(double base_lr, std::vector<std::int64_t> milestones, double gamma)
    : base_lr_(base_lr), milestones_(std::move(milestones)), gamma_(gamma) {
  check_lr("multistep_lr", base_lr);
  if (!std::is_sorted(milestones_.begin(), milestones_.end())) {
    throw ValueError(fmt::format("multistep_lr: milestones [{}] are not increasing",
                                 fmt::join(milestones_, ", ")));
  }
  if (!milestones_.empty() && milestones_.front() < 0) {
    throw ValueError(fmt::format("multistep_lr: milestone {} is negative", milestones_.front()));
  }
  if (!(gamma >= 0.0) || !std::isfinite(gamma)) {
    throw ValueError(
        fmt::format("multistep_lr: invalid gamma {} (need a finite value >= 0)", gamma));
  }
}

double MultiStepLr::lr_at(std::int64_t t) const {
  check_t("multistep_lr", t);
  // k = #{m ≤ t}: Python's bisect_right, as torch's closed form uses.
  const auto k = std::upper_bound(milestones_.begin(), milestones_.end(), t) - milestones_.begin();
  return base_lr_ * std::pow(gamma_, static_cast<double>(k));
}

std::string MultiStepLr::describe() const {
  return fmt::format("multistep({}, milestones=[{}], gamma={})", base_lr_,
                     fmt::join(milestones_, ", "), gamma_);
}

CosineLr::CosineLr(double base_lr, std::int64_t t_max, double eta_min)
    : base_lr_(base_lr), t_max_(t_max), eta_min_(eta_min) {
  check_lr("cosine_lr", base_lr);
  check_lr("cosine_lr", eta_min);
  if (t_max <= 0) {
    throw ValueError(fmt::format("cosine_lr: T_max {} must be positive", t_max));
  }
}

double CosineLr::lr_at(std::int64_t t) const {
  check_t("cosine_lr", t);
  const double phase = std::numbers::pi * static_cast<double>(t) / static_cast<double>(t_max_);
  return eta_min_ + (base_lr_ - eta_min_) * (1.0 + std::cos(phase)) / 2.0;
}

std::string CosineLr::describe() const {
  return fmt::format("cosine({}, T_max={}, eta_min={})", base_lr_, t_max_, eta_min_);
}

WarmupLr::WarmupLr(std::unique_ptr<LrSchedule> inner, std::int64_t warmup, double start_factor)
    : inner_(std::move(inner)), warmup_(warmup), start_factor_(start_factor) {
  if (inner_ == nullptr) {
    throw ValueError("warmup_lr: the schedule to warm up is null");
  }
  if (warmup <= 0) {
    throw ValueError(fmt::format("warmup_lr: warm-up length {} must be positive", warmup));
  }
  if (!(start_factor > 0.0 && start_factor <= 1.0)) {
    throw ValueError(fmt::format(
        "warmup_lr: start factor {} must be in (0, 1] (as torch's LinearLR)", start_factor));
  }
}

double WarmupLr::lr_at(std::int64_t t) const {
  check_t("warmup_lr", t);
  const double progress = static_cast<double>(std::min(t, warmup_)) / static_cast<double>(warmup_);
  return inner_->lr_at(t) * (start_factor_ + (1.0 - start_factor_) * progress);
}

std::string WarmupLr::describe() const {
  return fmt::format("warmup({}, steps={}, start_factor={})", inner_->describe(), warmup_,
                     start_factor_);
}

}  // namespace normlab
