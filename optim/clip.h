// Gradient clipping by global norm, as torch.nn.utils.clip_grad_norm_.
#pragma once
#include <limits>
#include <vector>

#include "core/tensor.h"

namespace norma::optim {

// The norm of all gradients together (the norm of the per-parameter norms; norm_type may be
// any p > 0 or infinity), returned; if it exceeds max_norm every gradient is scaled in place by
// max_norm / (total + 1e-6). Parameters without a gradient are skipped. A NaN or Inf total is
// returned as is (callers detect divergence with it) and the gradients become NaN, as PyTorch's.
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0);

constexpr double kInf = std::numeric_limits<double>::infinity();

}  // namespace norma::optim
