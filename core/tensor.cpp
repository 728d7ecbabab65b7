#include "core/tensor.h"

#include <cmath>
#include <cstring>
#include <iomanip>
#include <sstream>

#include "core/autograd.h"

namespace norma {

TensorImpl& Tensor::impl() const {
  NORMA_CHECK(impl_, "Tensor: use of an undefined tensor");
  return *impl_;
}

int64_t Tensor::size(int64_t dim) const { return shape()[wrap_dim(dim, this->dim(), "size")]; }

bool Tensor::is_contiguous() const {
  const Shape& sh = shape();
  const Shape& st = strides();
  int64_t expected = 1;
  for (size_t i = sh.size(); i-- > 0;) {
    if (sh[i] == 1) continue;  // a dim of size 1 may have any stride
    if (st[i] != expected) return false;
    expected *= sh[i];
  }
  return true;
}

namespace {
// Offset of a multi-index, checked against the shape.
int64_t element_offset(const Tensor& t, std::initializer_list<int64_t> index) {
  NORMA_CHECK(int64_t(index.size()) == t.dim(), "at: ", index.size(), " indices for a tensor of shape ",
              t.shape());
  int64_t off = 0, d = 0;
  for (int64_t i : index) {
    NORMA_CHECK(i >= 0 && i < t.shape()[d], "at: index ", i, " out of range for dim ", d,
                " of shape ", t.shape());
    off += i * t.strides()[d++];
  }
  return off;
}

}  // namespace

void strided_copy(const float* src, const Shape& src_strides, float* dst, const Shape& dst_strides,
                  const Shape& shape) {
  const int64_t nd = int64_t(shape.size()), n = shape_numel(shape);
  if (n == 0) return;
  if (nd == 0) {
    dst[0] = src[0];
    return;
  }
  // An index counter walks all dims but the last; the last dim is the inner loop.
  const int64_t inner = shape[nd - 1], s_in = src_strides[nd - 1], d_in = dst_strides[nd - 1];
  Shape idx(nd, 0);
  for (int64_t outer = 0; outer < n / inner; ++outer) {
    int64_t so = 0, dof = 0;
    for (int64_t d = 0; d < nd - 1; ++d) {
      so += idx[d] * src_strides[d];
      dof += idx[d] * dst_strides[d];
    }
    const float* s = src + so;
    float* o = dst + dof;
    if (s_in == 1 && d_in == 1)
      for (int64_t j = 0; j < inner; ++j) o[j] = s[j];
    else
      for (int64_t j = 0; j < inner; ++j) o[j * d_in] = s[j * s_in];
    for (int64_t d = nd - 2; d >= 0; --d) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

namespace {
void gather_strided(const Tensor& src, float* dst) {
  strided_copy(src.data(), src.strides(), dst, contiguous_strides(src.shape()), src.shape());
}
}  // namespace

float Tensor::item() const {
  NORMA_CHECK(numel() == 1, "item: expected a tensor with one element, got shape ", shape());
  return data()[0];
}

float Tensor::at(std::initializer_list<int64_t> index) const { return data()[element_offset(*this, index)]; }

void Tensor::set(std::initializer_list<int64_t> index, float value) {
  data()[element_offset(*this, index)] = value;
}

std::vector<float> Tensor::to_vector() const {
  std::vector<float> out(static_cast<size_t>(numel()));
  gather_strided(*this, out.data());
  return out;
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  Tensor out = empty(shape());
  gather_strided(*this, out.data());
  return record("contiguous", out, {*this}, [](const Tensor& g) -> std::vector<Tensor> { return {g}; });
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape());
  gather_strided(*this, out.data());
  return record("clone", out, {*this}, [](const Tensor& g) -> std::vector<Tensor> { return {g}; });
}

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = this->impl().storage;
  impl->offset = this->impl().offset;
  impl->shape = shape();
  impl->strides = strides();
  return Tensor(impl);
}

Tensor& Tensor::fill_(float value) {
  NORMA_CHECK(is_contiguous(), "fill_: expected a contiguous tensor, got strides ", strides());
  float* p = data();
  for (int64_t i = 0, n = numel(); i < n; ++i) p[i] = value;
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  NORMA_CHECK(src.shape() == shape(), "copy_: cannot copy a tensor of shape ", src.shape(),
              " into one of shape ", shape());
  // Copy through a temporary when src and *this may overlap in one buffer.
  Tensor from = src.impl().storage == impl().storage ? src.clone() : src;
  strided_copy(from.data(), from.strides(), data(), strides(), shape());
  return *this;
}

bool Tensor::requires_grad() const { return impl().requires_grad || impl().grad_fn != nullptr; }

Tensor& Tensor::requires_grad_(bool requires) {
  NORMA_CHECK(is_leaf(), "requires_grad_: only leaf tensors can change requires_grad (this one ",
              "was made by '", grad_fn()->name, "'; use detach())");
  impl().requires_grad = requires;
  return *this;
}

Tensor Tensor::grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }

void Tensor::set_grad(const Tensor& grad) {
  if (grad.defined())
    NORMA_CHECK(grad.shape() == shape(), "set_grad: gradient of shape ", grad.shape(),
                " for a tensor of shape ", shape());
  impl().grad = grad.defined() ? grad.impl_ptr() : nullptr;
}

void Tensor::zero_grad() { impl().grad = nullptr; }

void Tensor::backward(bool retain_graph) const {
  NORMA_CHECK(numel() == 1, "backward: implicit gradient needs a one-element tensor, got shape ",
              shape(), " (pass a gradient)");
  run_backward(*this, ones(shape()), retain_graph);
}

void Tensor::backward(const Tensor& grad, bool retain_graph) const { run_backward(*this, grad, retain_graph); }

// ---- Printing ------------------------------------------------------------------------------
namespace {
constexpr int64_t kEdgeItems = 3;  // values shown at each end of a long dim

void print_dim(std::ostream& os, const std::vector<float>& v, const Shape& shape, size_t d,
               int64_t offset, const Shape& strides, int indent) {
  int64_t n = shape[d];
  bool cut = n > 2 * kEdgeItems;
  os << '[';
  for (int64_t i = 0; i < n; ++i) {
    if (cut && i == kEdgeItems) {
      os << (d + 1 == shape.size() ? "..., " : "...,\n" + std::string(indent + 1, ' '));
      i = n - kEdgeItems;
    }
    if (d + 1 == shape.size())
      os << std::setw(10) << v[size_t(offset + i)];
    else
      print_dim(os, v, shape, d + 1, offset + i * strides[d], strides, indent + 1);
    if (i + 1 < n) os << (d + 1 == shape.size() ? ", " : ",\n" + std::string(indent + 1, ' '));
  }
  os << ']';
}
}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "Tensor(undefined)";
  std::ostringstream os;
  os << "Tensor(shape=" << shape_str(shape());
  if (grad_fn()) os << ", grad_fn=" << grad_fn()->name;
  else if (requires_grad()) os << ", requires_grad";
  os << ")\n" << std::setprecision(5);
  std::vector<float> v = to_vector();
  if (dim() == 0)
    os << v[0];
  else
    print_dim(os, v, shape(), 0, 0, contiguous_strides(shape()), 0);
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

// ---- Factories -----------------------------------------------------------------------------
Tensor empty(const Shape& shape) {
  for (int64_t s : shape) NORMA_CHECK(s >= 0, "empty: negative size in shape ", shape);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(shape_numel(shape));
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  return Tensor(impl);
}

Tensor full(const Shape& shape, float value) { return empty(shape).fill_(value); }
Tensor zeros(const Shape& shape) { return full(shape, 0.f); }
Tensor ones(const Shape& shape) { return full(shape, 1.f); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape()); }
Tensor scalar_tensor(float value) { return full({}, value); }

Tensor arange(float end) { return arange(0.f, end, 1.f); }

Tensor arange(float start, float end, float step) {
  NORMA_CHECK(step != 0.f, "arange: step must be non-zero");
  double count = std::ceil((double(end) - start) / step);
  int64_t n = count > 0 ? int64_t(count) : 0;
  Tensor out = empty({n});
  for (int64_t i = 0; i < n; ++i) out.data()[i] = float(start + double(step) * i);
  return out;
}

Tensor from_vector(const std::vector<float>& values, const Shape& shape) {
  NORMA_CHECK(int64_t(values.size()) == shape_numel(shape), "from_vector: ", values.size(),
              " values do not fill shape ", shape, " (", shape_numel(shape), " elements)");
  Tensor out = empty(shape);
  std::memcpy(out.data(), values.data(), values.size() * sizeof(float));
  return out;
}

namespace {
template <typename F>
Tensor generate(const Shape& shape, Generator* gen, F draw) {
  Generator& g = gen ? *gen : default_generator();
  Tensor out = empty(shape);
  float* p = out.data();
  for (int64_t i = 0, n = out.numel(); i < n; ++i) p[i] = draw(g);
  return out;
}
}  // namespace

Tensor rand(const Shape& shape, Generator* gen) {
  return generate(shape, gen, [](Generator& g) { return g.uniform(); });
}
Tensor randn(const Shape& shape, Generator* gen) {
  Tensor out = empty(shape);
  (gen ? *gen : default_generator()).fill_normal(out.data(), out.numel());
  return out;
}
Tensor uniform(const Shape& shape, float low, float high, Generator* gen) {
  NORMA_CHECK(low <= high, "uniform: low ", low, " > high ", high);
  return generate(shape, gen, [=](Generator& g) { return low + (high - low) * g.uniform(); });
}
Tensor normal(const Shape& shape, float mean, float std, Generator* gen) {
  NORMA_CHECK(std >= 0.f, "normal: std must be >= 0, got ", std);
  return generate(shape, gen, [=](Generator& g) { return mean + std * g.normal(); });
}
Tensor bernoulli(const Shape& shape, float p, Generator* gen) {
  NORMA_CHECK(p >= 0.f && p <= 1.f, "bernoulli: p must be in [0, 1], got ", p);
  return generate(shape, gen, [=](Generator& g) { return g.uniform() < p ? 1.f : 0.f; });
}

bool equal(const Tensor& a, const Tensor& b) { return a.shape() == b.shape() && a.to_vector() == b.to_vector(); }

bool allclose(const Tensor& a, const Tensor& b, float rtol, float atol) {
  if (a.shape() != b.shape()) return false;
  std::vector<float> va = a.to_vector(), vb = b.to_vector();
  for (size_t i = 0; i < va.size(); ++i)
    if (!(std::fabs(va[i] - vb[i]) <= atol + rtol * std::fabs(vb[i]))) return false;
  return true;
}

}  // namespace norma
