// layers/optim/schedule.h: learning-rate schedules as pure functions of the step (or epoch):
// lr_at(t) reads no state, so a resumed run needs only t. The values are those of
// torch.optim.lr_scheduler's closed forms: ConstantLr, MultiStepLR, CosineAnnealingLR, and
// LinearLR as a warm-up factor chained onto any of them (ChainedScheduler([LinearLR, ...])).
// Whether t counts steps or epochs is the caller's choice; the training loop calls
// optimizer.set_lr(schedule.lr_at(t)) before each step.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace normlab {

class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  // t ≥ 0; ValueError for a negative t.
  virtual double lr_at(std::int64_t t) const = 0;
  virtual std::string describe() const = 0;  // "multistep(0.1, milestones=[30, 60], gamma=0.1)"
};

// lr(t) = base_lr
class ConstantLr final : public LrSchedule {
 public:
  explicit ConstantLr(double base_lr);
  double lr_at(std::int64_t t) const override;
  std::string describe() const override;

 private:
  double base_lr_;
};

// lr(t) = base_lr · γ^k,  k = #{milestones m : m ≤ t}   (the GN paper divides by 10 at fixed
// epochs)
class MultiStepLr final : public LrSchedule {
 public:
  MultiStepLr(double base_lr, std::vector<std::int64_t> milestones, double gamma = 0.1);
  double lr_at(std::int64_t t) const override;
  std::string describe() const override;

 private:
  double base_lr_;
  std::vector<std::int64_t> milestones_;  // sorted, may repeat (γ applies once per entry)
  double gamma_;
};

// lr(t) = η_min + (base_lr − η_min) · (1 + cos(π·t / T_max)) / 2
// Like torch's CosineAnnealingLR this is periodic: past T_max it rises again (period 2·T_max);
// choose T_max = the run's length to end at η_min.
class CosineLr final : public LrSchedule {
 public:
  CosineLr(double base_lr, std::int64_t t_max, double eta_min = 0.0);
  double lr_at(std::int64_t t) const override;
  std::string describe() const override;

 private:
  double base_lr_;
  std::int64_t t_max_;
  double eta_min_;
};

// lr(t) = inner.lr_at(t) · f(t),  f(t) = s + (1 − s) · min(t, W) / W
// Linear warm-up from s = start_factor to 1 over W = warmup steps, then the inner schedule
// unchanged (milestones and T_max keep counting from t = 0, as with torch's ChainedScheduler).
class WarmupLr final : public LrSchedule {
 public:
  WarmupLr(std::unique_ptr<LrSchedule> inner, std::int64_t warmup, double start_factor);
  double lr_at(std::int64_t t) const override;
  std::string describe() const override;

 private:
  std::unique_ptr<LrSchedule> inner_;
  std::int64_t warmup_;
  double start_factor_;
};

}  // namespace normlab
