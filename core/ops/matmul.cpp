// matmul: out = a @ b through cblas_sgemm, batched over broadcast leading dims.
//   forward:  out[b] = a[b] @ b[b]
//   backward: da[b] = g[b] @ b[b]^T,  db[b] = a[b]^T @ g[b]   (summed over broadcast dims)
#include "core/ops/matmul.h"

#include "core/autograd.h"
#include "core/kernels/gemm.h"
#include "core/ops/reduce.h"
#include "core/ops/shape_ops.h"

namespace norma {
namespace {
// A matrix operand for sgemm: its buffer, row stride, and whether sgemm must transpose it.
// A transposed view of a contiguous matrix (x.t()) is passed as-is with trans = true.
struct GemmOperand {
  Tensor keep;  // holds the buffer alive
  const float* data;
  int64_t ld;
  bool trans;
  int64_t batch_stride;
};

GemmOperand operand(const Tensor& x) {
  const int64_t nd = x.dim();
  const Shape& st = x.strides();
  const int64_t rows = x.shape()[nd - 2], cols = x.shape()[nd - 1];
  bool batch_contiguous = true;
  int64_t expect = rows * cols;
  for (int64_t d = nd - 3; d >= 0; --d) {
    if (x.shape()[d] != 1 && st[d] != expect) batch_contiguous = false;
    expect *= x.shape()[d];
  }
  if (batch_contiguous && (st[nd - 1] == 1 || cols == 1) && (st[nd - 2] == cols || rows == 1))
    return {x, x.data(), cols, false, rows * cols};
  if (batch_contiguous && (st[nd - 2] == 1 || rows == 1) && (st[nd - 1] == rows || cols == 1))
    return {x, x.data(), rows, true, rows * cols};
  Tensor c = x.contiguous();
  return {c, c.data(), cols, false, rows * cols};
}

// a: [B, n, k], b: [B, k, m] (already expanded to the same batch) -> [B..., n, m]
Tensor batched_gemm(const Tensor& a, const Tensor& b, const Shape& out_shape) {
  const int64_t nd = a.dim();
  const int64_t n = a.shape()[nd - 2], k = a.shape()[nd - 1], m = b.shape()[nd - 1];
  Tensor out = empty(out_shape);
  const int64_t batches = out.numel() / std::max<int64_t>(1, n * m);
  if (out.numel() == 0) return out;
  GemmOperand A = operand(a), B = operand(b);
  for (int64_t i = 0; i < batches; ++i)
    sgemm(A.trans, B.trans, n, m, k, 1.f, A.data + i * A.batch_stride, A.ld, B.data + i * B.batch_stride, B.ld,
          0.f, out.data() + i * n * m, m);
  return out;
}
}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  NORMA_CHECK(a.dim() >= 2 && b.dim() >= 2, "matmul: cannot multiply ", a.shape(), " by ", b.shape(),
              " (both need at least 2 dims)");
  const int64_t n = a.shape()[a.dim() - 2], k = a.shape()[a.dim() - 1];
  const int64_t k2 = b.shape()[b.dim() - 2], m = b.shape()[b.dim() - 1];
  NORMA_CHECK(k == k2, "matmul: cannot multiply ", a.shape(), " by ", b.shape());
  Shape batch_a(a.shape().begin(), a.shape().end() - 2), batch_b(b.shape().begin(), b.shape().end() - 2);
  Shape batch;
  try {
    batch = broadcast_shapes(batch_a, batch_b, "matmul");
  } catch (const Error&) {
    throw Error(detail::concat("matmul: cannot multiply ", a.shape(), " by ", b.shape(),
                               " (batch dims do not broadcast)"));
  }
  Shape sa = batch, sb = batch, so = batch;
  sa.insert(sa.end(), {n, k});
  sb.insert(sb.end(), {k, m});
  so.insert(so.end(), {n, m});
  Tensor ea = a.detach(), eb = b.detach();
  if (a.shape() != sa) ea = expand(ea, sa).contiguous();
  if (b.shape() != sb) eb = expand(eb, sb).contiguous();
  Tensor out = batched_gemm(ea, eb, so);
  return record("matmul", out, {a, b}, [a, b](const Tensor& g) -> std::vector<Tensor> {
    Tensor da, db;
    if (needs_grad(a)) da = sum_to(matmul(g, transpose(b, -1, -2)), a.shape());
    if (needs_grad(b)) db = sum_to(matmul(transpose(a, -1, -2), g), b.shape());
    return {da, db};
  });
}

}  // namespace norma
