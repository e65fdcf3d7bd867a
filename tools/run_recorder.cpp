#include "tools/run_recorder.h"

#include <fmt/format.h>

namespace normlab {

namespace {

// Rows to keep: a resume at step s keeps steps 1..s of metrics_steps.csv and the rows measured
// at steps 0..s-1 of the statistics; a new run keeps none.
std::int64_t kept(std::int64_t resumed, std::int64_t offset) {
  return resumed < 0 ? -1 : resumed + offset;
}

}  // namespace

RunRecorder::RunRecorder(const std::filesystem::path& run, std::int64_t log_every,
                         std::int64_t resumed_step, std::int64_t resumed_epoch, bool landscape)
    : log_every_(log_every),
      steps_(run / "metrics_steps.csv", "step,epoch,lr,loss,accuracy,images_per_s",
             kept(resumed_step, 0)),
      epochs_(run / "metrics_epochs.csv",
              "epoch,lr,train_loss,train_accuracy,test_loss,test_accuracy,seconds",
              kept(resumed_epoch, 0)),
      norm_stats_(run / "norm_stats.csv",
                  "step,layer,type,in_mean,in_std,out_mean,out_std,grad_in_norm,grad_out_norm,"
                  "bn_mean_gap,bn_var_ratio",
                  kept(resumed_step, -1)),
      param_stats_(run / "param_stats.csv", "step,name,weight_norm,grad_norm,update_ratio",
                   kept(resumed_step, -1)),
      window_start_(std::chrono::steady_clock::now()) {
  if (landscape) {
    landscape_.emplace(run / "landscape.csv", kLandscapeHeader, kept(resumed_step, -1));
  }
}

void RunRecorder::start_epoch() {
  window_start_ = std::chrono::steady_clock::now();
  window_images_ = 0;
}

void RunRecorder::step_done(std::int64_t step, std::int64_t epoch, double lr,
                            const EpochTally& tally, std::int64_t images) {
  window_images_ += images;
  if ((step + 1) % log_every_ != 0) {
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  const double secs = std::chrono::duration<double>(now - window_start_).count();
  steps_.row(fmt::format("{},{},{:.6g},{:.6g},{:.6g},{:.1f}", step + 1, epoch + 1, lr,
                         tally.mean_loss(), tally.accuracy(),
                         secs > 0 ? static_cast<double>(window_images_) / secs : 0.0));
  window_start_ = now;
  window_images_ = 0;
}

void RunRecorder::norm_stats(std::int64_t step, const std::vector<NormLayerStats>& layers) {
  for (const NormLayerStats& s : layers) {
    norm_stats_.row(fmt::format("{},{},{},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g}",
                                step, s.layer, s.type, s.in_mean, s.in_std, s.out_mean, s.out_std,
                                s.grad_in_norm, s.grad_out_norm, s.bn_mean_gap, s.bn_var_ratio));
  }
}

void RunRecorder::param_stats(std::int64_t step, const std::vector<ParamStats>& params) {
  for (const ParamStats& p : params) {
    param_stats_.row(fmt::format("{},{},{:.6g},{:.6g},{:.6g}", step, p.name, p.weight_norm,
                                 p.grad_norm, p.update_ratio));
  }
}

void RunRecorder::epoch_done(const EpochRecord& r) {
  epochs_.row(fmt::format("{},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},{:.2f}", r.epoch, r.lr,
                          r.train_loss, r.train_accuracy, r.test_loss, r.test_accuracy, r.seconds));
}

void RunRecorder::landscape(std::int64_t step, const LandscapeMeasure& m) {
  for (const std::string& r : landscape_rows(step, m)) {
    landscape_->row(r);
  }
}

}  // namespace normlab
