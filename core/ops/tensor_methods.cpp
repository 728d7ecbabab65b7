// Tensor's method forms of ops: thin forwards to the free functions in core/ops/.
#include "core/norma.h"

namespace norma {

Tensor Tensor::reshape(const Shape& shape) const { return norma::reshape(*this, shape); }
Tensor Tensor::view(const Shape& shape) const { return norma::view(*this, shape); }
Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const { return norma::flatten(*this, start_dim, end_dim); }
Tensor Tensor::permute(const Shape& dims) const { return norma::permute(*this, dims); }
Tensor Tensor::transpose(int64_t dim0, int64_t dim1) const { return norma::transpose(*this, dim0, dim1); }
Tensor Tensor::squeeze() const { return norma::squeeze(*this); }
Tensor Tensor::squeeze(int64_t dim) const { return norma::squeeze(*this, dim); }
Tensor Tensor::unsqueeze(int64_t dim) const { return norma::unsqueeze(*this, dim); }
Tensor Tensor::expand(const Shape& shape) const { return norma::expand(*this, shape); }
Tensor Tensor::slice(int64_t dim, int64_t start, int64_t end, int64_t step) const {
  return norma::slice(*this, dim, start, end, step);
}
Tensor Tensor::sum() const { return norma::sum(*this); }
Tensor Tensor::sum(const Shape& dims, bool keepdim) const { return norma::sum(*this, dims, keepdim); }
Tensor Tensor::mean() const { return norma::mean(*this); }
Tensor Tensor::mean(const Shape& dims, bool keepdim) const { return norma::mean(*this, dims, keepdim); }
Tensor Tensor::matmul(const Tensor& other) const { return norma::matmul(*this, other); }

}  // namespace norma
