// BatchNorm1d / BatchNorm2d (Ioffe & Szegedy 2015), as torch.nn.BatchNorm1d/2d.
//
// Per channel c, over every other axis (N for [N, C]; N and L for [N, C, L]; N, H, W for
// [N, C, H, W]):
//   training: mean_B, var_B = statistics of the batch (biased variance);
//             running = (1 - momentum) * running + momentum * batch value, with the batch's
//             unbiased variance (momentum unset: cumulative average, factor 1/num_batches_tracked)
//   eval:     mean, var = running_mean, running_var (when track_running_stats)
//   y = (x - mean) / sqrt(var + eps) * weight[c] + bias[c]
#pragma once
#include <optional>
#include <vector>

#include "layers/module.h"

namespace norma::nn {

// The fused, differentiable batch norm (torch.nn.functional.batch_norm). x: [N, C, *].
// running_mean/var may be undefined; when defined and training they are updated in place
// with `momentum` as the weight of the new value. weight/bias may be undefined (no affine).
Tensor batch_norm(const Tensor& x, Tensor running_mean, Tensor running_var, const Tensor& weight,
                  const Tensor& bias, bool training, float momentum = 0.1f, float eps = 1e-5f);

// batch_norm in training with statistics per chunk of `chunk_size` samples along N
// (GhostBatchNorm's training forward; chunk_size == N is batch_norm). N must be a multiple of
// chunk_size. When defined, running_mean/var are updated from chunk k in turn, with factors[k]
// as the weight of the new value (one factor per chunk).
Tensor ghost_batch_norm(const Tensor& x, Tensor running_mean, Tensor running_var, const Tensor& weight,
                        const Tensor& bias, int64_t chunk_size, const std::vector<float>& factors,
                        float eps = 1e-5f);

namespace detail {
// The fused op behind batch_norm, ghost_batch_norm and sync_batch_norm. use_batch_stats:
// statistics per chunk of `chunk` samples (running stats, if defined, updated with factors[g]);
// else the running stats. across_ranks (SyncBatchNorm; one chunk, training): the statistics'
// sums and the backward's two sums are all-reduced over the ranks (core/distributed.h).
Tensor batch_norm_fused(const Tensor& x, Tensor running_mean, Tensor running_var, const Tensor& weight,
                        const Tensor& bias, bool use_batch_stats, int64_t chunk, const std::vector<float>& factors,
                        float eps, bool across_ranks);
}  // namespace detail

class BatchNorm : public Module {
 public:
  // momentum std::nullopt: cumulative moving average, as PyTorch's momentum=None.
  BatchNorm(const std::string& type_name, int64_t num_features, float eps, std::optional<float> momentum, bool affine,
            bool track_running_stats);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  void reset_running_stats();

  int64_t num_features;
  float eps;
  std::optional<float> momentum;
  bool affine, track_running_stats;

 protected:
  // Checks the input's rank (1d: 2 or 3 dims; 2d: 4 dims), naming the layer.
  virtual void check_input(const Tensor& x) const = 0;
  // The factor the running statistics use this step (momentum, or 1/num_batches_tracked);
  // increments num_batches_tracked. Call once per training forward.
  float next_average_factor();
};

class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(int64_t num_features, float eps = 1e-5f, std::optional<float> momentum = 0.1f,
                       bool affine = true, bool track_running_stats = true);

 protected:
  void check_input(const Tensor& x) const override;
};

class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(int64_t num_features, float eps = 1e-5f, std::optional<float> momentum = 0.1f,
                       bool affine = true, bool track_running_stats = true);

 protected:
  void check_input(const Tensor& x) const override;
};

}  // namespace norma::nn
