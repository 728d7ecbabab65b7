// Tensor: a float32 n-d array with reverse-mode autograd.
//
// A Tensor is a cheap handle (shared_ptr) to a TensorImpl: a Storage buffer shared by all
// views of it, an offset into it, a shape and strides. Views (reshape of a contiguous tensor,
// permute, transpose, slice, squeeze, unsqueeze, expand, detach) share the buffer; kernels
// call contiguous() first, which copies only when the strides are not row-major.
//
// Autograd: a tensor that requires grad is either a leaf (made by a factory, then
// requires_grad_()) whose gradient accumulates in grad(), or the output of an op, whose
// grad_fn() is the tape Node that knows how to send its gradient back (core/autograd.h).
#pragma once
#include <initializer_list>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/random.h"
#include "core/shape.h"
#include "core/storage.h"

namespace norma {

struct Node;
class Tensor;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;
  Shape shape;
  Shape strides;
  bool requires_grad = false;         // set on leaves by requires_grad_()
  std::shared_ptr<TensorImpl> grad;   // leaves: accumulated gradient
  std::shared_ptr<Node> grad_fn;      // op outputs: the tape node that produced this tensor
};

class Tensor {
 public:
  Tensor() = default;  // undefined: defined() is false
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& strides() const { return impl().strides; }
  int64_t size(int64_t dim) const;
  int64_t dim() const { return int64_t(impl().shape.size()); }
  int64_t numel() const { return shape_numel(impl().shape); }
  bool is_contiguous() const;

  // Pointer to the first element. Walk it with strides(), or call contiguous() first.
  float* data() { return impl().storage->data() + impl().offset; }
  const float* data() const { return impl().storage->data() + impl().offset; }
  // The value of a one-element tensor.
  float item() const;
  // Element access (any strides), mostly for tests: t.at({i, j}).
  float at(std::initializer_list<int64_t> index) const;
  void set(std::initializer_list<int64_t> index, float value);
  std::vector<float> to_vector() const;

  // Row-major copy if needed, else *this. Differentiable.
  Tensor contiguous() const;
  // A new buffer with the same values. Differentiable.
  Tensor clone() const;
  // Same buffer, cut from the tape: no grad_fn, requires_grad false.
  Tensor detach() const;
  // In-place, never recorded: fill with a value / copy values of the same shape (*this may
  // be a strided view, e.g. a slice, whose elements are overwritten in its buffer).
  Tensor& fill_(float value);
  Tensor& copy_(const Tensor& src);

  // Autograd.
  bool requires_grad() const;
  Tensor& requires_grad_(bool requires = true);
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  Tensor grad() const;  // undefined until a backward() reaches this leaf
  void set_grad(const Tensor& grad);
  void zero_grad();     // drops the accumulated gradient (like PyTorch's set_to_none)
  const std::shared_ptr<Node>& grad_fn() const { return impl().grad_fn; }
  // Back-propagates from a one-element tensor (gradient 1) or with an explicit gradient of
  // this tensor's shape. The graph is released afterwards unless retain_graph.
  void backward(bool retain_graph = false) const;
  void backward(const Tensor& grad, bool retain_graph = false) const;

  // Method forms of common ops (defined in core/ops/*).
  Tensor reshape(const Shape& shape) const;
  Tensor view(const Shape& shape) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor permute(const Shape& dims) const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  Tensor t() const { return transpose(0, 1); }
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor expand(const Shape& shape) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor sum() const;
  Tensor sum(const Shape& dims, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(const Shape& dims, bool keepdim = false) const;
  Tensor matmul(const Tensor& other) const;

  std::string str() const;
  TensorImpl& impl() const;
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// ---- Factories -----------------------------------------------------------------------------
// Uninitialized contiguous tensor (kernels that overwrite every element start from this).
Tensor empty(const Shape& shape);
Tensor zeros(const Shape& shape);
Tensor ones(const Shape& shape);
Tensor full(const Shape& shape, float value);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
// Values start, start+step, ... below end, as a 1-d tensor.
Tensor arange(float end);
Tensor arange(float start, float end, float step = 1.f);
// Copies values (row-major) into a tensor of this shape; the sizes must agree.
Tensor from_vector(const std::vector<float>& values, const Shape& shape);
Tensor scalar_tensor(float value);
// Random factories; `gen` defaults to default_generator().
Tensor rand(const Shape& shape, Generator* gen = nullptr);                     // U[0, 1)
Tensor randn(const Shape& shape, Generator* gen = nullptr);                    // N(0, 1)
Tensor uniform(const Shape& shape, float low, float high, Generator* gen = nullptr);
Tensor normal(const Shape& shape, float mean, float std, Generator* gen = nullptr);
Tensor bernoulli(const Shape& shape, float p, Generator* gen = nullptr);      // 1 with prob. p

// Exact equality of shape and values (tests); allclose with |a-b| <= atol + rtol*|b|.
// Copies values between two strided layouts of the same shape (views of buffers).
void strided_copy(const float* src, const Shape& src_strides, float* dst, const Shape& dst_strides,
                  const Shape& shape);

bool equal(const Tensor& a, const Tensor& b);
bool allclose(const Tensor& a, const Tensor& b, float rtol = 1e-5f, float atol = 1e-8f);

}  // namespace norma
