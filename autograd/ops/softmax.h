// autograd/ops/softmax.h: Tensor-level log_softmax and cross-entropy with their backwards. Both use
// the log-sum-exp shift: lse = m + log Σ exp(x − m) with m the maximum, so exp never overflows.
#pragma once

#include "core/tensor.h"

namespace normlab {

// y = x − lse(x) along dim (any strides, float32/float64). dx = dy − exp(y) · Σ_dim dy.
Tensor log_softmax_forward(const Tensor& x, int dim);
Tensor log_softmax_backward(const Tensor& dy, const Tensor& y, int dim);

// loss = (1/N) Σ_n −log softmax(logits)[n, labels[n]]: a scalar (shape []) of logits' dtype.
// logits: (N, C); labels: (N) int64 in [0, C). prob: softmax(logits), kept for the backward.
struct CrossEntropyResult {
  Tensor loss;
  Tensor prob;
};
CrossEntropyResult cross_entropy_forward(const Tensor& logits, const Tensor& labels);
// dlogits[n, c] = dloss / N · (prob[n, c] − [c = labels[n]]); dloss: shape [].
Tensor cross_entropy_backward(const Tensor& dloss, const Tensor& prob, const Tensor& labels);

}  // namespace normlab
