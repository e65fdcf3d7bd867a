// layers/norm/sync_batch_norm.h: Synchronized Batch Normalization for data-parallel training.
// BatchNorm's sets (GN paper eq. 3) taken over the global batch, the union of every rank's shard:
// μ_c and σ²_c are those of all N_global·H·W values of channel c, although each rank holds only
// its own shard. Affine: per channel γ_c, β_c. The forward merges every rank's (m, μ, σ²) with
// Chan et al.'s parallel update (never E[x²] − E[x]²); the backward sums the two per-channel sums
// Σdy and Σdy·x̂ over the ranks. On one rank it is BatchNorm, value for value.
// docs/normalization/sync_batch_norm.md (eq. SBN1–SBN8)
#pragma once

#include <cstdint>
#include <string>

#include "core/communicator.h"
#include "layers/norm/affine_norm.h"
#include "layers/norm/batch_norm.h"

namespace normlab {

// eq. SBN2, Chan, Golub & LeVeque's update for two disjoint parts a, b of a set, per channel:
//   m = m_a + m_b,  δ = μ_b − μ_a,  μ = μ_a + δ·m_b/m,
//   σ² = (m_a·σ²_a + m_b·σ²_b + δ²·m_a·m_b/m) / m
// σ² is biased. ValueError when the parts have different channel counts.
BatchStats chan_merge(const BatchStats& a, const BatchStats& b);

// The statistics of the global batch (eq. SBN1–SBN2): every rank's (m, μ_c, σ²_c) gathered and
// merged in rank order, so every rank gets the same values bit for bit.
BatchStats global_batch_stats(const BatchStats& local, Communicator& comm);

// Training forward over the global batch (eq. SBN1–SBN4), recording a node whose backward is
// eq. SBN5–SBN8. weight and bias (C) may be undefined. stats, when not null, receives the global
// μ, σ² and m. Every rank must call it (it is a collective). ValueError when the global batch
// holds a single value per channel.
Variable sync_batch_norm_train(const Variable& x, const Variable& weight, const Variable& bias,
                               double eps, Communicator& comm, BatchStats* stats = nullptr);

// The training backward as labelled steps with the readable primitives of norm_core.h, the sums
// summed over comm's ranks (eq. SBN5–SBN8). dgamma and dbeta are this rank's parts (the
// data-parallel trainer sums them with every other gradient).
NormGrads sync_batch_norm_backward_reference(const Tensor& x, const Tensor& dy, const Tensor& gamma,
                                             double eps, Communicator& comm);

// γ, β (C), running_mean, running_var (C, the same on every rank) and num_batches_tracked:
// RunningStatsNorm.
class SyncBatchNorm final : public RunningStatsNorm {
 public:
  // comm: the ranks whose shards form the batch; null: this process alone (then SyncBatchNorm is
  // BatchNorm). comm must outlive the module.
  SyncBatchNorm(std::int64_t num_features, Communicator* comm,
                const BatchNormOptions& options = {});

  std::string type_name() const override { return "SyncBatchNorm"; }
  std::string extra_repr() const override;

 private:
  Variable normalize(const Variable& x, const Variable& weight, const Variable& bias) override;

  BatchNormOptions options_;
  SingleProcessCommunicator alone_;  // used when no communicator is given
  Communicator* comm_;
};

}  // namespace normlab
