// tools/train_step.h: one optimization step of the training loop, and the counts it reports.
// A step is forward with the graph, cross-entropy, backward, and one update at the step's lr. On
// recording steps it also measures every parameter: ‖w‖ before the update, ‖∂L/∂w‖, and the
// relative size of the update ‖Δw‖/‖w‖ (written to param_stats.csv by tools/run_recorder.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "datasets/loader.h"
#include "layers/module.h"
#include "layers/optim/optimizer.h"

namespace normlab {

struct ParamStats {
  std::string name;           // the parameter's state-dict name
  double weight_norm = 0.0;   // ‖w‖₂ before the update
  double grad_norm = 0.0;     // ‖∂L/∂w‖₂ (0 for a parameter without a gradient)
  double update_ratio = 0.0;  // ‖Δw‖₂ / ‖w‖₂ (0 when ‖w‖ = 0)
};

struct StepResult {
  double loss = 0.0;         // mean cross-entropy over the batch
  std::int64_t correct = 0;  // correct predictions among the batch's images
  std::int64_t images = 0;   // images in the batch
  std::vector<ParamStats> params =
      {};  // one per optimizer parameter on measuring steps, else empty
};

// Correct predictions among logits (n, K) for labels (n). confusion, when given, is K×K
// ([true class][predicted class]) and counts every prediction.
std::int64_t count_correct(const Tensor& logits, const Tensor& labels,
                           std::vector<std::vector<std::int64_t>>* confusion = nullptr);

// The batch's images as the model takes them: in the dtype of its parameters (the loader gives
// float32; a model trained with --dtype float64 takes float64).
Tensor model_input(Module& model, const Tensor& images);

// One step on batch at learning rate lr. When the loss is not finite the update is not applied
// (result.loss says so; the caller stops the run). anomaly, when given, checks every module's
// output and every op's gradients on the way (tools/anomaly.h). data_parallel, when given, averages
// the gradients over the ranks between the backward and the update (tools/data_parallel.h): batch
// is then this rank's shard, and the result counts the global batch.
StepResult train_step(Module& model, Optimizer& optimizer, const Batch& batch, double lr,
                      bool measure_params, class AnomalyDetector* anomaly = nullptr,
                      class DataParallel* data_parallel = nullptr);

// Running sums over an epoch's steps.
struct EpochTally {
  double loss_sum = 0.0;  // Σ loss · images
  std::int64_t correct = 0;
  std::int64_t images = 0;

  void add(const StepResult& s);
  double mean_loss() const noexcept;  // 0 before the first step
  double accuracy() const noexcept;   // 0 before the first step
};

}  // namespace normlab
