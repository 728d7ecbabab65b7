// softmax, log_softmax and the fused softmax cross-entropy.
//
// Stability: every exp is of (z - max), so it lies in (0, 1] and never overflows; the row's
// log-sum-exp is lse = m + log(sum_j exp(z_j - m)) with m = max_j z_j, exact to float
// rounding even for logits of +-1e4 (where exp(z) itself would be inf or 0).
// Extreme logits (tests/test_loss_extreme.cpp against a float64 reference): finite logits up to
// +-FLT_MAX give a finite gradient, and a finite loss unless the true loss is above FLT_MAX
// (then inf, as PyTorch); a -inf logit that is not the target costs nothing (its softmax is 0),
// a -inf target gives an inf loss; a +inf logit or an all -inf row gives NaN, as PyTorch.
//
// softmax and log_softmax work along any dim: the tensor is viewed as [outer, D, inner] and
// each of the outer * inner "lanes" (D elements, `inner` apart) is independent.
#include "core/ops/loss.h"

#include <cmath>
#include <limits>

#include "core/autograd.h"
#include "core/kernels/broadcast.h"

namespace norma {
namespace {

struct Lanes {
  int64_t outer = 1, D = 1, inner = 1;
  int64_t count() const { return outer * inner; }
  // Offset of the first element of lane l.
  int64_t start(int64_t l) const { return (l / inner) * D * inner + l % inner; }
};

Lanes lanes_of(const Shape& shape, int64_t dim) {
  Lanes L;
  if (shape.empty()) return L;  // a 0-d tensor is one lane of one element
  for (int64_t d = 0; d < int64_t(shape.size()); ++d) {
    if (d < dim) L.outer *= shape[d];
    else if (d > dim) L.inner *= shape[d];
  }
  L.D = shape[dim];
  return L;
}

// One lane of D elements, `stride` apart. Called with a literal stride of 1 for the last dim
// so the inlined copy is a plain contiguous (vectorizable) loop.
//   m = max_d x_d;  s = sum_d exp(x_d - m)
//   softmax:      y_d = exp(x_d - m) / s
//   log_softmax:  y_d = x_d - m - log(s)
inline void softmax_lane(const float* x, float* y, int64_t D, int64_t stride, bool log) {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t d = 0; d < D; ++d) m = std::max(m, x[d * stride]);
  if (std::isinf(m)) m = 0.f;  // all -inf (or a +inf): keep inf - inf out of the exps
  double s = 0;
  for (int64_t d = 0; d < D; ++d) {
    float e = std::exp(x[d * stride] - m);
    if (!log) y[d * stride] = e;
    s += double(e);
  }
  if (log) {
    // (x - m) - log(s), not x - (m + log(s)): near 1e4 the float lse would lose ~1e-3.
    const float logs = float(std::log(s));
    for (int64_t d = 0; d < D; ++d) y[d * stride] = (x[d * stride] - m) - logs;
  } else {
    float inv = float(1.0 / s);
    for (int64_t d = 0; d < D; ++d) y[d * stride] *= inv;
  }
}

// Backward of one lane, y the forward output:
//   softmax:      dx_d = y_d * (g_d - sum_j g_j y_j)
//   log_softmax:  dx_d = g_d - exp(y_d) * sum_j g_j       (exp(y) is the softmax)
inline void softmax_lane_backward(const float* y, const float* g, float* dx, int64_t D, int64_t stride, bool log) {
  double s = 0;
  if (log) {
    for (int64_t d = 0; d < D; ++d) s += double(g[d * stride]);
    for (int64_t d = 0; d < D; ++d) dx[d * stride] = g[d * stride] - std::exp(y[d * stride]) * float(s);
  } else {
    for (int64_t d = 0; d < D; ++d) s += double(g[d * stride]) * double(y[d * stride]);
    for (int64_t d = 0; d < D; ++d) dx[d * stride] = y[d * stride] * (g[d * stride] - float(s));
  }
}

Tensor softmax_impl(const Tensor& x_in, int64_t dim_in, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  const int64_t dim = wrap_dim(dim_in, x_in.dim(), name);
  const Tensor x = x_in.detach().contiguous();
  const Lanes L = lanes_of(x.shape(), dim);
  Tensor out = empty(x.shape());
  const float* px = x.data();
  float* py = out.data();
#pragma omp parallel for if (x.numel() > kParallelGrain) schedule(static)
  for (int64_t l = 0; l < L.count(); ++l) {
    const int64_t o = L.start(l);
    if (L.inner == 1) softmax_lane(px + o, py + o, L.D, 1, log);
    else softmax_lane(px + o, py + o, L.D, L.inner, log);
  }
  return record(name, out, {x_in}, [y = out.detach(), L, log](const Tensor& g_in) -> std::vector<Tensor> {
    const Tensor g = g_in.contiguous();
    Tensor dx = empty(y.shape());
    const float* py = y.data();
    const float* pg = g.data();
    float* pdx = dx.data();
#pragma omp parallel for if (y.numel() > kParallelGrain) schedule(static)
    for (int64_t l = 0; l < L.count(); ++l) {
      const int64_t o = L.start(l);
      if (L.inner == 1) softmax_lane_backward(py + o, pg + o, pdx + o, L.D, 1, log);
      else softmax_lane_backward(py + o, pg + o, pdx + o, L.D, L.inner, log);
    }
    return {dx};
  });
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, false); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, true); }

// Cross-entropy of softmax(z) against the smoothed target t = (1 - e) onehot(y) + e / C, per row:
//   lse  = m + log(s),  s = sum_j exp(z_j - m)
//   loss = -sum_j t_j log softmax_j = lse - (1 - e) z_y - (e / C) sum_j z_j
//        = log(s) + (1 - e) (m - z_y) + (e / C) sum_j (m - z_j)
//   dz_j = (softmax_j - t_j) * g,   softmax_j = exp((z_j - m) - log(s))
// g is the row's incoming gradient (divided by N for Reduction::Mean). Fused: one pass for
// the forward, one for the backward, no [N, C] intermediate kept but the logits.
namespace {
// The backward of cross_entropy (below): dz_j = (softmax_j - t_j) * g_i, t_j = off + on [j == y],
// g_i = g[i] for Reduction::None, else the scalar g (divided by N for Mean).
Tensor cross_entropy_backward(const Tensor& z, const std::vector<int64_t>& labels, const std::vector<float>& mx,
                              const std::vector<float>& logs, const Tensor& g_in, Reduction reduction, double on,
                              double off) {
  const Tensor g = g_in.contiguous();
  const int64_t N = z.shape()[0], C = z.shape()[1];
  Tensor dz = empty(z.shape());
  const float* pz = z.data();
  const float* pg = g.data();
  float* pdz = dz.data();
  const float scale = reduction == Reduction::Mean ? 1.f / float(N) : 1.f;
#pragma omp parallel for if (N * C > kParallelGrain) schedule(static)
  for (int64_t i = 0; i < N; ++i) {
    const float gi = (reduction == Reduction::None ? pg[i] : pg[0]) * scale;
    const float* row = pz + i * C;
    float* drow = pdz + i * C;
    const float m = mx[size_t(i)], ls = logs[size_t(i)];
    for (int64_t j = 0; j < C; ++j) drow[j] = (std::exp((row[j] - m) - ls) - float(off)) * gi;
    drow[labels[size_t(i)]] -= float(on) * gi;
  }
  return dz;
}
}  // namespace

Tensor cross_entropy(const Tensor& logits, const std::vector<int64_t>& labels, Reduction reduction,
                     float label_smoothing) {
  NORMA_CHECK(logits.dim() == 2, "cross_entropy: expected logits [N, C], got ", logits.shape());
  const int64_t N = logits.shape()[0], C = logits.shape()[1];
  NORMA_CHECK(int64_t(labels.size()) == N, "cross_entropy: ", labels.size(), " labels for logits of shape ",
              logits.shape());
  for (int64_t i = 0; i < N; ++i)
    NORMA_CHECK(labels[size_t(i)] >= 0 && labels[size_t(i)] < C, "cross_entropy: label ", labels[size_t(i)],
                " at position ", i, " is out of range for ", C, " classes");
  NORMA_CHECK(label_smoothing >= 0.f && label_smoothing <= 1.f,
              "cross_entropy: label_smoothing must be in [0, 1], got ", label_smoothing);

  const Tensor z = logits.detach().contiguous();
  const float* pz = z.data();
  const double e = label_smoothing, on = 1.0 - e, off = C > 0 ? e / double(C) : 0.0;
  // Per row: m and log(s), kept for the backward.
  std::vector<float> mx(static_cast<size_t>(N)), logs(static_cast<size_t>(N));
  std::vector<double> loss(static_cast<size_t>(N));
  // Rows in double: a gap m - z_j of two floats is exact (or rounded relative to itself), and
  // the gap of +-3e38 logits (6e38, above FLT_MAX) stays finite.
#pragma omp parallel for if (N * C > kParallelGrain) schedule(static)
  for (int64_t i = 0; i < N; ++i) {
    const float* row = pz + i * C;
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < C; ++j) m = std::max(m, row[j]);
    double s = 0, gaps = 0;  // gaps = sum_j (m - z_j), for the smoothing term
    for (int64_t j = 0; j < C; ++j) {
      s += double(std::exp(row[j] - m));
      gaps += double(m) - double(row[j]);
    }
    mx[size_t(i)] = m;
    logs[size_t(i)] = float(std::log(s));
    // loss = log(s) + on (m - z_y) + off sum_j (m - z_j)   (the same sum, as on + C off = 1).
    // Not lse - on z_y - ...: m + log(s) rounds log(s) away when |m| >> 1 (a row of 1e20s lost
    // its log C), and the difference then cancels to 0. Here every term is >= 0: no cancelling.
    // (e == 0 skips the smoothing term: 0 * inf is NaN for a -inf logit.)
    const double gap_y = double(m) - double(row[labels[size_t(i)]]);
    loss[size_t(i)] = std::log(s) + on * gap_y + (e == 0.0 ? 0.0 : off * gaps);
  }

  Tensor out;
  if (reduction == Reduction::None) {
    out = empty({N});
    for (int64_t i = 0; i < N; ++i) out.data()[i] = float(loss[size_t(i)]);
  } else {
    double total = 0;  // summed in row order: deterministic whatever the thread count
    for (double l : loss) total += l;
    out = scalar_tensor(float(reduction == Reduction::Mean ? total / double(N) : total));
  }

  return record("cross_entropy", out, {logits},
                [z, labels, mx = std::move(mx), logs = std::move(logs), reduction, on, off](const Tensor& g) {
                  return std::vector<Tensor>{cross_entropy_backward(z, labels, mx, logs, g, reduction, on, off)};
                });
}

}  // namespace norma
