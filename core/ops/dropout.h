// Inverted dropout: in training, zero each element with probability p and scale the rest by
// 1/(1-p), so eval (identity) needs no rescaling. The mask comes from a seeded generator.
#pragma once
#include "core/tensor.h"

namespace norma {

Tensor dropout(const Tensor& x, float p = 0.5f, bool training = true, Generator* gen = nullptr);

}  // namespace norma
