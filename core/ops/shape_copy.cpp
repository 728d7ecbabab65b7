// Shape ops that copy: index_select, cat, pad. (The views are in shape_ops.cpp.)
//
// Each sees its tensors as [outer, n, inner] around the dim it works on, so the rows of
// `inner` floats it moves are contiguous: memcpy for the forward, plain loops for the
// backwards that must add.
#include <algorithm>
#include <cstring>
#include <string>

#include "core/autograd.h"
#include "core/kernels/broadcast.h"
#include "core/ops/shape_ops.h"

namespace norma {
namespace {
// Product of shape[begin, end).
int64_t dims_numel(const Shape& shape, int64_t begin, int64_t end) {
  int64_t n = 1;
  for (int64_t d = begin; d < end; ++d) n *= shape[size_t(d)];
  return n;
}
}  // namespace

// ---- index_select --------------------------------------------------------------------------

// out[o, k, i] = x[o, indices[k], i];  dx[o, indices[k], i] += g[o, k, i] (repeats add up)
Tensor index_select(const Tensor& x, int64_t dim, const std::vector<int64_t>& indices) {
  NORMA_CHECK(x.dim() > 0, "index_select: expected a tensor with at least one dim, got a 0-d tensor");
  const int64_t d = wrap_dim(dim, x.dim(), "index_select");
  const int64_t n = x.shape()[size_t(d)], m = int64_t(indices.size());
  for (int64_t k : indices)
    NORMA_CHECK(k >= 0 && k < n, "index_select: index ", k, " out of range for dim ", d, " (size ", n,
                ") of a tensor of shape ", x.shape());
  const int64_t outer = dims_numel(x.shape(), 0, d), inner = dims_numel(x.shape(), d + 1, x.dim());
  Shape out_shape = x.shape();
  out_shape[size_t(d)] = m;
  Tensor xc = x.detach().contiguous();
  Tensor out = empty(out_shape);
  const float* src = xc.data();
  float* dst = out.data();
#pragma omp parallel for collapse(2) if (outer * m * inner > kParallelGrain) schedule(static)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < m; ++k)
      std::memcpy(dst + (o * m + k) * inner, src + (o * n + indices[size_t(k)]) * inner,
                  size_t(inner) * sizeof(float));
  return record("index_select", out, {x},
                [xs = x.shape(), indices, outer, n, m, inner](const Tensor& g) -> std::vector<Tensor> {
    Tensor dx = zeros(xs);
    Tensor gc = g.contiguous();
    const float* gp = gc.data();
    float* dp = dx.data();
    // Threads own disjoint (o, column block) pieces of dx and add the k's in order, so the
    // sums are deterministic; column blocks keep dim-0 selects (embeddings) parallel too.
    constexpr int64_t kBlock = 256;
    const int64_t blocks = (inner + kBlock - 1) / kBlock;
#pragma omp parallel for collapse(2) if (outer * m * inner > kParallelGrain) schedule(static)
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t b = 0; b < blocks; ++b) {
        const int64_t i0 = b * kBlock, i1 = std::min(inner, i0 + kBlock);
        for (int64_t k = 0; k < m; ++k) {
          float* drow = dp + (o * n + indices[size_t(k)]) * inner;
          const float* grow = gp + (o * m + k) * inner;
          for (int64_t i = i0; i < i1; ++i) drow[i] += grow[i];
        }
      }
    return {dx};
  });
}

// ---- cat -----------------------------------------------------------------------------------

// out[o, off_t + j, i] = t[o, j, i] for each tensor t, off_t = sizes along dim before it;
// dt = g[:, off_t : off_t + size_t, :]
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  NORMA_CHECK(!tensors.empty(), "cat: expected a non-empty list of tensors");
  const Tensor& first = tensors[0];
  NORMA_CHECK(first.dim() > 0, "cat: cannot concatenate 0-d tensors (tensor 0 has shape [])");
  const int64_t d = wrap_dim(dim, first.dim(), "cat");
  std::string expected = "[";  // e.g. [2, *, 3]: the shape every tensor must have
  for (int64_t j = 0; j < first.dim(); ++j)
    expected += (j ? ", " : "") + (j == d ? std::string("*") : std::to_string(first.shape()[size_t(j)]));
  expected += "]";
  Shape out_shape = first.shape();
  out_shape[size_t(d)] = 0;
  for (size_t t = 0; t < tensors.size(); ++t) {
    const Shape& s = tensors[t].shape();
    NORMA_CHECK(tensors[t].dim() == first.dim(), "cat: tensor ", t, " has shape ", s, ", expected ", expected);
    for (int64_t j = 0; j < first.dim(); ++j)
      NORMA_CHECK(j == d || s[size_t(j)] == first.shape()[size_t(j)], "cat: tensor ", t, " has shape ", s,
                  ", expected ", expected);
    out_shape[size_t(d)] += s[size_t(d)];
  }
  const int64_t outer = dims_numel(out_shape, 0, d), inner = dims_numel(out_shape, d + 1, first.dim());
  const int64_t row = out_shape[size_t(d)] * inner;  // floats per outer index in out
  Tensor out = empty(out_shape);
  int64_t offset = 0;  // along dim
  for (const Tensor& t : tensors) {
    const int64_t chunk = t.shape()[size_t(d)] * inner;  // floats per outer index in t
    float* dst = out.data() + offset * inner;
    if (t.is_contiguous()) {
      const float* src = t.data();
#pragma omp parallel for if (outer * chunk > kParallelGrain) schedule(static)
      for (int64_t o = 0; o < outer; ++o)
        std::memcpy(dst + o * row, src + o * chunk, size_t(chunk) * sizeof(float));
    } else {
      // A strided input goes straight into its slot of out.
      strided_copy(t.data(), t.strides(), dst, out.strides(), t.shape());
    }
    offset += t.shape()[size_t(d)];
  }
  Shape sizes;
  for (const Tensor& t : tensors) sizes.push_back(t.shape()[size_t(d)]);
  return record("cat", out, tensors, [d, sizes](const Tensor& g) -> std::vector<Tensor> {
    std::vector<Tensor> grads;
    int64_t start = 0;
    for (int64_t s : sizes) {
      grads.push_back(slice(g, d, start, start + s));
      start += s;
    }
    return grads;
  });
}

// ---- pad -----------------------------------------------------------------------------------

// Along a dim of size n padded by (l, r): out has n + l + r entries; out[max(0, l) + j] =
// x[max(0, -l) + j] for the n - max(0, -l) - max(0, -r) entries x keeps, value elsewhere.
// dx = those entries of g, zero where x was cropped.
Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, float value) {
  NORMA_CHECK(pads.size() % 2 == 0, "pad: expected (left, right) pairs, got ", pads.size(), " pad values");
  NORMA_CHECK(int64_t(pads.size()) <= 2 * x.dim(), "pad: ", pads.size(), " pad values for a tensor of shape ",
              x.shape(), " (at most 2 per dim)");
  Shape out_shape = x.shape();
  Shape src_start(size_t(x.dim()), 0), dst_start(size_t(x.dim()), 0), kept = x.shape();
  bool crops = false;
  for (size_t k = 0; k < pads.size() / 2; ++k) {
    const size_t j = size_t(x.dim()) - 1 - k;  // pairs start at the last dim
    const int64_t l = pads[2 * k], r = pads[2 * k + 1], n = x.shape()[j];
    const int64_t crop = std::max<int64_t>(0, -l) + std::max<int64_t>(0, -r);
    NORMA_CHECK(crop <= n, "pad: padding (", l, ", ", r, ") crops ", crop, " entries from dim ", j,
                " of size ", n, " (shape ", x.shape(), ")");
    out_shape[j] = n + l + r;
    src_start[j] = std::max<int64_t>(0, -l);
    dst_start[j] = std::max<int64_t>(0, l);
    kept[j] = n - crop;
    crops = crops || crop > 0;
  }
  // The kept block of x and where it lands in out, as views: out[dst] = x[src].
  auto region = [](Tensor t, const Shape& start, const Shape& size) {
    for (int64_t j = 0; j < t.dim(); ++j)
      if (start[size_t(j)] != 0 || size[size_t(j)] != t.shape()[size_t(j)])
        t = slice(t, j, start[size_t(j)], start[size_t(j)] + size[size_t(j)]);
    return t;
  };
  Tensor out = full(out_shape, value);
  region(out, dst_start, kept).copy_(region(x.detach(), src_start, kept));
  return record("pad", out, {x},
                [xs = x.shape(), src_start, dst_start, kept, crops, region](const Tensor& g) -> std::vector<Tensor> {
    Tensor g_kept = region(g, dst_start, kept);
    if (!crops) return {g_kept};  // x is all kept: its gradient is a view of g
    Tensor dx = zeros(xs);
    region(dx, src_start, kept).copy_(g_kept);
    return {dx};
  });
}

}  // namespace norma
