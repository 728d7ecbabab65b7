// softmax, log_softmax and the fused softmax cross-entropy, all numerically stable
// (the max is subtracted before exp, so logits of +-1e4 are fine; up to +-FLT_MAX and -inf,
// see core/ops/loss.cpp and tests/test_loss_extreme.cpp).
#pragma once
#include <vector>

#include "core/tensor.h"

namespace norma {

enum class Reduction { None, Mean, Sum };

Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

// logits: [N, C]; labels: N class indices in [0, C). With label smoothing e the target is
// (1 - e) * one_hot + e / C, as in torch.nn.functional.cross_entropy.
// Reduction::None returns the N per-sample losses.
Tensor cross_entropy(const Tensor& logits, const std::vector<int64_t>& labels,
                     Reduction reduction = Reduction::Mean, float label_smoothing = 0.f);

}  // namespace norma
