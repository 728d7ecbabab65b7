// Data-parallel training over the ranks of core/distributed.h: each rank runs forward and
// backward on its share of the global batch, then
//   average_gradients: every parameter's gradient becomes the mean of the ranks' gradients
//                      (so every rank's optimizer takes the same step);
//   broadcast_tensors: the start state (weights, optimizer state) is rank 0's everywhere;
//   check_identical:   the weights are compared by checksum (a mismatch is a bug, an error).
// With one rank these cost nothing.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace norma::optim {

// grad = allreduce(grad) / K for every tensor of `params` that requires grad (an undefined
// gradient counts as zeros and becomes defined). The gradients are packed, in reverse order
// (the order backward finishes them), into buckets of about `bucket_floats` floats, one
// MPI_Allreduce each.
void average_gradients(const std::vector<Tensor>& params, int64_t bucket_floats = int64_t(1) << 20);

// The values of `tensors` (contiguous) on rank `root` copied into every rank's.
void broadcast_tensors(const std::vector<Tensor>& tensors, int root = 0);

// FNV-1a over the bytes of every tensor, in order.
uint64_t checksum(const std::vector<Tensor>& tensors);

// Throws on every rank, naming `what`, when the tensors' checksums differ between ranks.
void check_identical(const std::vector<Tensor>& tensors, const std::string& what);

}  // namespace norma::optim
