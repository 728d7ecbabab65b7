// Matrix multiplication through OpenBLAS cblas_sgemm.
#pragma once
#include "core/tensor.h"

namespace norma {

// a: [..., n, k], b: [..., k, m] -> [..., n, m]. Both need at least 2 dims; the leading
// (batch) dims broadcast, as in torch.matmul.
Tensor matmul(const Tensor& a, const Tensor& b);

}  // namespace norma
