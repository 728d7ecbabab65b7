// SyncBatchNorm: BatchNorm whose statistics are those of the global batch across processes.
//
// In one process the global batch is the local one, so this is BatchNorm2d exactly: the forward
// is BatchNorm::forward, i.e. batch_norm() in layers/norm/batch_norm.cpp.
//
// Distributed (MPI, a later issue): the only change is two all-reduces over the ranks, marked
// in batch_norm.cpp where they go:
//   forward:  the per-channel count and sum x, then sum (x - mean)^2, are all-reduced before
//             mean and var are formed (the running var then uses the global count, unbiased);
//   backward: the per-channel sum_dy and sum_dy_xhat from channel_grad_sums are all-reduced
//             before dL/dx is formed (m is then the global count).
// Nothing here pretends to do that yet.
#include "layers/norm/sync_batch_norm.h"

namespace norma::nn {

SyncBatchNorm::SyncBatchNorm(int64_t num_features, float eps, std::optional<float> momentum, bool affine,
                             bool track_running_stats)
    : BatchNorm("SyncBatchNorm", num_features, eps, momentum, affine, track_running_stats) {}

// As PyTorch's SyncBatchNorm: any [N, C, *] input of at least 2 dims.
void SyncBatchNorm::check_input(const Tensor& x) const {
  NORMA_CHECK(x.dim() >= 2, "SyncBatchNorm: expected at least 2D input [N, C, *], got ", x.shape());
}

}  // namespace norma::nn
