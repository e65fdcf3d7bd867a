// tools/landscape.h: the optimization-landscape diagnostics of Santurkar et al. 2018 ("How Does
// Batch Normalization Help Optimization?", NeurIPS, arXiv:1805.11604, Section 3), measured on the
// batch of a training step before the step is taken. With g = ∇L(w) the gradient of the batch's
// cross-entropy (without weight decay) and each step size η of a small list:
//   loss         L(w − η·g)                                   (the "variation of the loss")
//   grad_change  ‖∇L(w − η·g) − ∇L(w)‖₂                       ("gradient predictiveness")
//   beta         max over η of ‖∇L(w − η·g) − ∇L(w)‖₂ / ‖η·g‖₂ ("effective β-smoothness")
// The model stays in training mode, so normalizations use the batch's statistics, as in the step.
// Everything a forward may change (parameters, buffers such as running statistics, the Rng of
// every Dropout) is saved before and restored after, and the gradients are dropped, so the
// training trajectory is the same with and without the measurement.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "datasets/loader.h"
#include "layers/module.h"

namespace normlab {

struct LandscapePoint {
  double eta = 0.0;
  double loss = 0.0;         // L(w − η·g)
  double grad_change = 0.0;  // ‖∇L(w − η·g) − ∇L(w)‖₂
  double ratio = 0.0;        // grad_change / ‖η·g‖₂ (0 when g = 0)
};

struct LandscapeMeasure {
  double loss = 0.0;                   // L(w)
  double grad_norm = 0.0;              // ‖∇L(w)‖₂
  std::vector<LandscapePoint> points;  // one per η, in the given order
  double beta = 0.0;                   // the largest ratio
};

// Everything of a model that a forward in training mode may change, copied.
class ModelSnapshot {
 public:
  explicit ModelSnapshot(Module& model);
  void restore(Module& model) const;  // the model it was taken from

 private:
  StateDict state_;                // parameters and buffers, cloned
  std::vector<std::string> rngs_;  // the Rng state of every Dropout, in tree order
};

// Measures at the model's current weights on batch; ValueError for an empty or non-positive η
// list. The model ends exactly as it started, without gradients.
LandscapeMeasure measure_landscape(Module& model, const Batch& batch, std::span<const double> etas);

// The default step sizes: lr · {1/4, 1/2, 1, 2, 4} around the run's (peak) learning rate.
std::vector<double> default_landscape_etas(double lr);

// The landscape.csv rows of one measurement at step `step` (0-based): one per η with
// "step,eta,loss,grad_change,ratio", then the step's summary row "step,,loss_at_w,,beta" whose
// empty eta marks it (header: step,eta,loss,grad_change,beta).
inline constexpr const char* kLandscapeHeader = "step,eta,loss,grad_change,beta";
std::vector<std::string> landscape_rows(std::int64_t step, const LandscapeMeasure& m);

}  // namespace normlab
