// conv2d through im2col + sgemm, parallel over the batch.
//
// Per image n and group g (Cg = C/groups input channels, Cog = C_out/groups output channels,
// K = Cg*kH*kW, P = oH*oW; col = im2col(x[n, g]) is [K, P], core/kernels/im2col.h):
//   forward:  out[n, g] [Cog, P] = W_g [Cog, K] @ col + bias
//   backward: dW_g += dout[n, g] @ col^T                     (summed over the batch)
//             dx[n, g] = col2im(W_g^T @ dout[n, g])
//             dbias[co] = sum over n, oh, ow of dout[n, co]
// A 1x1 kernel with stride 1 and no padding needs no im2col: col is x[n, g] itself. A 3x3
// kernel with stride 1 and padding 1 (one group, AVX2) computes out and dx with the direct
// kernels of core/kernels/conv3x3.h instead: out, dx and dW without im2col (resnet20's
// training step: 411 -> 284 ms on 2 threads); with stride 2, its forward.
//
// Threads: each thread takes a static slice of the batch and calls sgemm inside the parallel
// region, where OpenBLAS (OpenMP build) runs single-threaded. With fewer images than threads
// the images run one after another and sgemm uses the threads instead. The weight and bias
// gradients are accumulated per thread and summed in thread order, so results are
// bit-identical run to run for a given thread count.
#include "core/ops/conv.h"

#include <omp.h>

#include <vector>

#include "core/autograd.h"
#include "core/kernels/conv3x3.h"
#include "core/kernels/gemm.h"
#include "core/kernels/im2col.h"

namespace norma {
namespace {

struct ConvShape {
  int64_t N, C, Cout, groups, Cg, Cog;
  ConvGeometry g;  // per group: C = Cg
  bool direct;     // 1x1, stride 1, no padding: col = x
  bool k3;         // 3x3, stride 1, padding 1, one group, AVX2: core/kernels/conv3x3.h
  bool k3s2;       // the same with stride 2: its forward only (the backward is im2col's)
  int64_t K() const { return g.col_rows(); }
  int64_t P() const { return g.col_cols(); }
};

// Per-thread column buffers, reused across calls: they grow to the largest size seen and are
// never freed (two per thread: col, and dcol in the backward).
float* workspace(int which, int64_t n) {
  thread_local std::vector<float> bufs[2];
  std::vector<float>& b = bufs[which];
  if (int64_t(b.size()) < n) b.resize(size_t(n));
  return b.data();
}

// Below this many multiply-adds a conv stays on one thread: waking the others costs more.
constexpr int64_t kParallelMacs = int64_t(1) << 20;

// Calls body(n, slot) for every image n. slot < omp_get_max_threads() names the thread's
// accumulators; a static schedule gives each thread the same images every call.
template <typename F>
void for_each_image(const ConvShape& s, F body) {
  const int64_t N = s.N, macs = N * s.Cout * s.K() * s.P();
  const int nt = omp_get_max_threads();
  if (nt > 1 && N >= nt && macs >= kParallelMacs && !omp_in_parallel()) {
#pragma omp parallel
    {
      const int slot = omp_get_thread_num();
#pragma omp for schedule(static)
      for (int64_t n = 0; n < N; ++n) body(n, slot);
    }
  } else {
    for (int64_t n = 0; n < N; ++n) body(n, 0);
  }
}

// Sum of n floats in 16 independent lanes: vectorizes, where one accumulator would wait on
// each add in turn.
float sum_lanes(const float* p, int64_t n) {
  float lane[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; ++k) lane[k] += p[i + k];
  float acc = 0.f;
  for (; i < n; ++i) acc += p[i];
  for (int k = 0; k < 16; ++k) acc += lane[k];
  return acc;
}

// im2col of x[n, g] into this thread's buffer, or x[n, g] itself for a direct conv.
const float* columns(const ConvShape& s, const float* xg) {
  if (s.direct) return xg;
  float* col = workspace(0, s.K() * s.P());
  im2col(xg, s.g, col);
  return col;
}

void conv_forward(const ConvShape& s, const float* x, const float* w, const float* b, float* out) {
  const int64_t K = s.K(), P = s.P(), HW = s.g.H * s.g.W;
  if (s.k3 || s.k3s2) {
    const std::vector<float> packed = conv3x3_pack(w, s.Cout, s.C, false);
    for_each_image(s, [&](int64_t n, int) {
      conv3x3_forward(x + n * s.C * HW, packed.data(), b, s.C, s.Cout, s.g.H, s.g.W, s.g.sh, out + n * s.Cout * P);
    });
    return;
  }
  for_each_image(s, [&](int64_t n, int) {
    for (int64_t grp = 0; grp < s.groups; ++grp) {
      const float* col = columns(s, x + (n * s.C + grp * s.Cg) * HW);
      float* o = out + (n * s.Cout + grp * s.Cog) * P;
      // out[n, g] = W_g @ col
      sgemm(false, false, s.Cog, P, K, 1.f, w + grp * s.Cog * K, K, col, P, 0.f, o, P);
    }
    if (b) {
      float* o = out + n * s.Cout * P;
      for (int64_t co = 0; co < s.Cout; ++co)
        for (int64_t q = 0; q < P; ++q) o[co * P + q] += b[co];
    }
  });
}

// dx, dw_parts, db_parts are null when not needed (x is then null without dw, w without dx).
// dw_parts: [threads, C_out*K] zeroed; db_parts: [threads, C_out] zeroed (double).
void conv_backward(const ConvShape& s, const float* x, const float* w, const float* gout, float* dx, float* dw_parts,
                   double* db_parts) {
  const int64_t K = s.K(), P = s.P(), HW = s.g.H * s.g.W;
  const std::vector<float> packed_t = s.k3 && dx ? conv3x3_pack(w, s.Cout, s.C, true) : std::vector<float>();
  for_each_image(s, [&](int64_t n, int slot) {
    if (s.k3)  // dw_parts is then [threads][9][Cout][C], put in order by the caller
      conv3x3_backward(dw_parts ? x + n * s.C * HW : nullptr, gout + n * s.Cout * P, packed_t.data(), s.C, s.Cout,
                       s.g.H, s.g.W, dx ? dx + n * s.C * HW : nullptr, dw_parts ? dw_parts + slot * s.Cout * K : nullptr);
    for (int64_t grp = 0; grp < s.groups && !s.k3; ++grp) {
      const float* go = gout + (n * s.Cout + grp * s.Cog) * P;
      const int64_t xoff = (n * s.C + grp * s.Cg) * HW;
      if (dw_parts) {
        // dW_g += dout[n, g] [Cog, P] @ col^T [P, K]
        const float* col = columns(s, x + xoff);
        sgemm(false, true, s.Cog, K, P, 1.f, go, P, col, P, 1.f, dw_parts + slot * s.Cout * K + grp * s.Cog * K, K);
      }
      if (dx) {
        // dcol [K, P] = W_g^T @ dout[n, g], then scattered back onto the image
        const float* wg = w + grp * s.Cog * K;
        if (s.direct) {
          sgemm(true, false, K, P, s.Cog, 1.f, wg, K, go, P, 0.f, dx + xoff, P);
        } else {
          float* dcol = workspace(1, K * P);
          sgemm(true, false, K, P, s.Cog, 1.f, wg, K, go, P, 0.f, dcol, P);
          col2im(dcol, s.g, dx + xoff);
        }
      }
    }
    if (db_parts) {
      const float* go = gout + n * s.Cout * P;
      double* db = db_parts + slot * s.Cout;
      for (int64_t co = 0; co < s.Cout; ++co) db[co] += sum_lanes(go + co * P, P);
    }
  });
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, IntPair stride, IntPair padding,
              IntPair dilation, int64_t groups) {
  NORMA_CHECK(x.dim() == 4, "conv2d: expected input [N, C, H, W], got ", x.shape());
  NORMA_CHECK(weight.dim() == 4, "conv2d: expected weight [C_out, C_in/groups, kH, kW], got ", weight.shape());
  NORMA_CHECK(groups >= 1, "conv2d: groups must be >= 1, got ", groups);
  NORMA_CHECK(stride.h >= 1 && stride.w >= 1, "conv2d: stride must be >= 1, got ", stride.h, "x", stride.w);
  NORMA_CHECK(dilation.h >= 1 && dilation.w >= 1, "conv2d: dilation must be >= 1, got ", dilation.h, "x", dilation.w);
  NORMA_CHECK(padding.h >= 0 && padding.w >= 0, "conv2d: padding must be >= 0, got ", padding.h, "x", padding.w);
  ConvShape s;
  s.N = x.size(0), s.C = x.size(1), s.Cout = weight.size(0), s.groups = groups;
  NORMA_CHECK(s.C % groups == 0, "conv2d: groups=", groups, " does not divide the ", s.C, " input channels");
  NORMA_CHECK(s.Cout % groups == 0, "conv2d: groups=", groups, " does not divide the ", s.Cout,
              " output channels of weight ", weight.shape());
  NORMA_CHECK(s.C == weight.size(1) * groups, "conv2d: input has ", s.C, " channels, weight expects ",
              weight.size(1) * groups, " (groups=", groups, "); input ", x.shape(), ", weight ", weight.shape());
  if (bias.defined())
    NORMA_CHECK(bias.shape() == Shape{s.Cout}, "conv2d: expected bias [", s.Cout, "] for weight ", weight.shape(),
                ", got ", bias.shape());
  s.Cg = s.C / groups, s.Cog = s.Cout / groups;
  ConvGeometry& g = s.g;
  g.C = s.Cg, g.H = x.size(2), g.W = x.size(3), g.kh = weight.size(2), g.kw = weight.size(3);
  g.sh = stride.h, g.sw = stride.w, g.ph = padding.h, g.pw = padding.w, g.dh = dilation.h, g.dw = dilation.w;
  const int64_t ekh = g.dh * (g.kh - 1) + 1, ekw = g.dw * (g.kw - 1) + 1;  // dilated kernel
  NORMA_CHECK(ekh <= g.H + 2 * g.ph && ekw <= g.W + 2 * g.pw, "conv2d: kernel ", ekh, "x", ekw,
              " (after dilation) is larger than the padded input ", g.H + 2 * g.ph, "x", g.W + 2 * g.pw, "; input ",
              x.shape(), ", weight ", weight.shape());
  g.oh = conv_out_size(g.H, g.kh, g.sh, g.ph, g.dh);
  g.ow = conv_out_size(g.W, g.kw, g.sw, g.pw, g.dw);
  s.direct = g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
  const bool k3any = conv3x3_available() && groups == 1 && g.kh == 3 && g.kw == 3 && g.ph == 1 && g.pw == 1 &&
                    g.dh == 1 && g.dw == 1 && g.sh == g.sw;
  s.k3 = k3any && g.sh == 1;
  s.k3s2 = k3any && g.sh == 2;

  Tensor xc = x.detach().contiguous(), wc = weight.detach().contiguous();
  Tensor bc = bias.defined() ? bias.detach().contiguous() : Tensor();
  Tensor out = empty({s.N, s.Cout, g.oh, g.ow});
  conv_forward(s, xc.data(), wc.data(), bc.defined() ? bc.data() : nullptr, out.data());

  // Keep only what the backward reads: x for dW, W for dx.
  const bool need_x = needs_grad(x), need_w = needs_grad(weight), need_b = needs_grad(bias);
  Tensor x_saved = need_w ? xc : Tensor(), w_saved = need_x ? wc : Tensor();
  return record("conv2d", out, {x, weight, bias},
                [s, x_saved, w_saved, need_x, need_w, need_b](const Tensor& gout_in) -> std::vector<Tensor> {
                  Tensor gout = gout_in.contiguous();
                  const int nt = omp_get_max_threads();
                  Tensor dx = need_x ? empty({s.N, s.C, s.g.H, s.g.W}) : Tensor();
                  Tensor dw_parts = need_w ? zeros({nt, s.Cout * s.K()}) : Tensor();
                  std::vector<double> db_parts(need_b ? size_t(nt * s.Cout) : 0, 0.0);
                  conv_backward(s, need_w ? x_saved.data() : nullptr, need_x ? w_saved.data() : nullptr, gout.data(),
                                need_x ? dx.data() : nullptr, need_w ? dw_parts.data() : nullptr,
                                need_b ? db_parts.data() : nullptr);
                  Tensor dw, db;
                  if (need_w) {  // sum the per-thread partials in thread order
                    dw = empty({s.Cout, s.Cg, s.g.kh, s.g.kw});
                    const int64_t n = s.Cout * s.K();
                    const float* parts = dw_parts.data();
                    for (int64_t i = 0; i < n; ++i) {
                      // part index of dw[co][ci][k]: the same, or k*Cout*C + co*C + ci (conv3x3)
                      const int64_t j = s.k3 ? (i % 9) * s.Cout * s.C + i / 9 : i;
                      float acc = parts[j];
                      for (int t = 1; t < nt; ++t) acc += parts[t * n + j];
                      dw.data()[i] = acc;
                    }
                  }
                  if (need_b) {
                    db = empty({s.Cout});
                    for (int64_t co = 0; co < s.Cout; ++co) {
                      double acc = 0;
                      for (int t = 0; t < nt; ++t) acc += db_parts[size_t(t * s.Cout + co)];
                      db.data()[co] = float(acc);
                    }
                  }
                  return {dx, dw, db};
                });
}

}  // namespace norma
