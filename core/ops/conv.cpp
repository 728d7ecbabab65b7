// conv2d through im2col + sgemm, a block of images per GEMM, blocks parallel over threads.
//
// Per group g (Cg = C/groups input channels, Cog = C_out/groups output channels, K = Cg*kH*kW,
// P = oH*oW) and block of nb images n0..n0+nb-1, col = the images' im2col matrices side by side
// ([K, nb*P], core/kernels/im2col.h):
//   forward:  out[n, g] [Cog, P] = (W_g [Cog, K] @ col) [:, the image's P columns] + bias
//   backward: dW_g += dout_block [Cog, nb*P] @ col^T                  (summed over the batch)
//             dbias[co] = sum over n, oh, ow of dout[n, co]
//             dx: for stride 1 the input gradient is itself a convolution of dout with the
//               flipped, transposed kernel, Wt[c, (co, i, j)] = W[co, c, kH-1-i, kW-1-j], with
//               padding dil*(k-1) - pad: dx_block [Cg, nb*P] = Wt_g @ im2col(dout_block);
//               other strides scatter dcol = W_g^T @ dout[n, g] back per image (col2im).
// One GEMM over nb images instead of nb GEMMs of P columns: resnet20's 8x8 maps have P = 64,
// far too few columns for OpenBLAS to run near its peak, and per-image calls pay its call and
// packing overhead 128 times per layer. Blocks hold about kBlockCols columns.
//
// Threads: each thread takes a static share of the blocks and calls sgemm inside the parallel
// region, where OpenBLAS (OpenMP build) runs single-threaded. With fewer images than threads
// the blocks run one after another and sgemm uses the threads instead. The weight and bias
// gradients are accumulated per thread and summed in thread order, so results are
// bit-identical run to run for a given thread count.
#include "core/ops/conv.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/autograd.h"
#include "core/kernels/gemm.h"
#include "core/kernels/im2col.h"

namespace norma {
namespace {

struct ConvShape {
  int64_t N, C, Cout, groups, Cg, Cog;
  ConvGeometry g;  // per group: C = Cg
  int64_t K() const { return g.col_rows(); }
  int64_t P() const { return g.col_cols(); }
  int64_t HW() const { return g.H * g.W; }
  // Stride 1 and padding at most the dilated kernel's reach: dx is a convolution of dout.
  bool transposable() const {
    return g.sh == 1 && g.sw == 1 && g.ph <= g.dh * (g.kh - 1) && g.pw <= g.dw * (g.kw - 1);
  }
  // The geometry of that convolution: dout [Cog, oH, oW] -> dx [Cg, H, W].
  ConvGeometry transposed() const {
    ConvGeometry t = g;
    t.C = Cog, t.H = g.oh, t.W = g.ow, t.ph = g.dh * (g.kh - 1) - g.ph, t.pw = g.dw * (g.kw - 1) - g.pw;
    t.oh = g.H, t.ow = g.W;
    return t;
  }
};

// Per-thread buffers, reused across calls: they grow to the largest size seen and are never
// freed. 0: col, 1: im2col of dout (or dcol), 2: a block of dout, 3: a block of the GEMM output.
float* workspace(int which, int64_t n) {
  thread_local std::vector<float> bufs[4];
  std::vector<float>& b = bufs[which];
  if (int64_t(b.size()) < n) b.resize(size_t(n));
  return b.data();
}

// Below this many multiply-adds a conv stays on one thread: waking the others costs more.
constexpr int64_t kParallelMacs = int64_t(1) << 20;
// Columns per GEMM to aim for (images per block = kBlockCols / P, at least 1).
constexpr int64_t kBlockCols = 4096;

bool run_parallel(const ConvShape& s) {
  return omp_get_max_threads() > 1 && s.N >= omp_get_max_threads() && s.N * s.Cout * s.K() * s.P() >= kParallelMacs &&
         !omp_in_parallel();
}

// Calls body(n0, nb, slot) for every block of nb images starting at n0. slot <
// omp_get_max_threads() names the thread's accumulators; a static schedule gives each thread
// the same blocks every call.
template <typename F>
void for_each_block(const ConvShape& s, F body) {
  const bool par = run_parallel(s);
  const int64_t share = std::max<int64_t>(par ? (s.N + omp_get_max_threads() - 1) / omp_get_max_threads() : s.N, 1);
  const int64_t nb = std::clamp<int64_t>(kBlockCols / std::max<int64_t>(s.P(), 1), 1, share);
  const int64_t blocks = (s.N + nb - 1) / nb;
  auto run = [&](int64_t blk, int slot) { body(blk * nb, std::min(nb, s.N - blk * nb), slot); };
  if (par) {
#pragma omp parallel
    {
      const int slot = omp_get_thread_num();
#pragma omp for schedule(static)
      for (int64_t blk = 0; blk < blocks; ++blk) run(blk, slot);
    }
  } else {
    for (int64_t blk = 0; blk < blocks; ++blk) run(blk, 0);
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

// col [K, nb*P] <- the im2col matrices of images n0.. (group grp) side by side.
const float* block_columns(const ConvShape& s, const float* x, int64_t n0, int64_t nb, int64_t grp) {
  const int64_t P = s.P();
  float* col = workspace(0, s.K() * nb * P);
  for (int64_t b = 0; b < nb; ++b) im2col(x + ((n0 + b) * s.C + grp * s.Cg) * s.HW(), s.g, col + b * P, nb * P);
  return col;
}

// rows [R, nb*P] <-> t[n0 + b, c0 + r, :] for b < nb: a block matrix and the tensor's layout.
void gather_rows(const float* t, int64_t channels, int64_t c0, int64_t R, int64_t P, int64_t n0, int64_t nb,
                 float* rows) {
  for (int64_t r = 0; r < R; ++r)
    for (int64_t b = 0; b < nb; ++b)
      std::memcpy(rows + r * nb * P + b * P, t + ((n0 + b) * channels + c0 + r) * P, size_t(P) * sizeof(float));
}
void scatter_rows(const float* rows, int64_t channels, int64_t c0, int64_t R, int64_t P, int64_t n0, int64_t nb,
                  float* t) {
  for (int64_t r = 0; r < R; ++r)
    for (int64_t b = 0; b < nb; ++b)
      std::memcpy(t + ((n0 + b) * channels + c0 + r) * P, rows + r * nb * P + b * P, size_t(P) * sizeof(float));
}

void conv_forward(const ConvShape& s, const float* x, const float* w, const float* b, float* out) {
  const int64_t K = s.K(), P = s.P();
  for_each_block(s, [&](int64_t n0, int64_t nb, int) {
    for (int64_t grp = 0; grp < s.groups; ++grp) {
      const float* col = block_columns(s, x, n0, nb, grp);
      // out_block [Cog, nb*P] = W_g @ col; one image goes straight into out
      float* o = nb == 1 ? out + (n0 * s.Cout + grp * s.Cog) * P : workspace(3, s.Cog * nb * P);
      sgemm(false, false, s.Cog, nb * P, K, 1.f, w + grp * s.Cog * K, K, col, nb * P, 0.f, o, nb * P);
      if (nb > 1) scatter_rows(o, s.Cout, grp * s.Cog, s.Cog, P, n0, nb, out);
    }
    if (b)
      for (int64_t n = n0; n < n0 + nb; ++n) {
        float* o = out + n * s.Cout * P;
        for (int64_t co = 0; co < s.Cout; ++co)
          for (int64_t q = 0; q < P; ++q) o[co * P + q] += b[co];
      }
  });
}

// wt [groups, Cg, Cog*kH*kW]: wt[g][c][(co*kH + i)*kW + j] = w[g*Cog + co][c][kH-1-i][kW-1-j]
std::vector<float> flipped_transposed(const ConvShape& s, const float* w) {
  const int64_t kh = s.g.kh, kw = s.g.kw, kk = kh * kw;
  std::vector<float> wt(size_t(s.Cout * s.Cg * kk));
  for (int64_t grp = 0; grp < s.groups; ++grp)
    for (int64_t c = 0; c < s.Cg; ++c)
      for (int64_t co = 0; co < s.Cog; ++co)
        for (int64_t i = 0; i < kh; ++i)
          for (int64_t j = 0; j < kw; ++j)
            wt[size_t(((grp * s.Cg + c) * s.Cog + co) * kk + i * kw + j)] =
                w[((grp * s.Cog + co) * s.Cg + c) * kk + (kh - 1 - i) * kw + (kw - 1 - j)];
  return wt;
}

// dx, dw_parts, db_parts are null when not needed (x is then null without dw, w without dx).
// dw_parts: [threads, C_out*K] zeroed; db_parts: [threads, C_out] zeroed (double).
void conv_backward(const ConvShape& s, const float* x, const float* w, const float* gout, float* dx, float* dw_parts,
                   double* db_parts) {
  const int64_t K = s.K(), P = s.P(), HW = s.HW();
  const bool transposed = s.transposable();
  const ConvGeometry gt = s.transposed();
  const std::vector<float> wt = dx && transposed ? flipped_transposed(s, w) : std::vector<float>();
  for_each_block(s, [&](int64_t n0, int64_t nb, int slot) {
    for (int64_t grp = 0; grp < s.groups; ++grp) {
      // go [Cog, nb*P]: this block's dout for the group; one image is read in place
      const float* go = gout + (n0 * s.Cout + grp * s.Cog) * P;
      if (nb > 1) {
        float* rows = workspace(2, s.Cog * nb * P);
        gather_rows(gout, s.Cout, grp * s.Cog, s.Cog, P, n0, nb, rows);
        go = rows;
      }
      if (dw_parts) {
        // dW_g += go [Cog, nb*P] @ col^T [nb*P, K]
        const float* col = block_columns(s, x, n0, nb, grp);
        sgemm(false, true, s.Cog, K, nb * P, 1.f, go, nb * P, col, nb * P, 1.f,
              dw_parts + slot * s.Cout * K + grp * s.Cog * K, K);
      }
      if (!dx) continue;
      if (transposed) {
        // dx_block [Cg, nb*HW] = Wt_g [Cg, Cog*kH*kW] @ im2col(dout_block)
        const int64_t Kt = gt.col_rows();
        float* gcol = workspace(1, Kt * nb * HW);
        for (int64_t b = 0; b < nb; ++b)
          im2col(gout + ((n0 + b) * s.Cout + grp * s.Cog) * P, gt, gcol + b * HW, nb * HW);
        float* d = nb == 1 ? dx + (n0 * s.C + grp * s.Cg) * HW : workspace(3, s.Cg * nb * HW);
        sgemm(false, false, s.Cg, nb * HW, Kt, 1.f, wt.data() + grp * s.Cg * Kt, Kt, gcol, nb * HW, 0.f, d, nb * HW);
        if (nb > 1) scatter_rows(d, s.C, grp * s.Cg, s.Cg, HW, n0, nb, dx);
      } else {
        // per image: dcol [K, P] = W_g^T @ dout[n, g], scattered back onto the image
        const float* wg = w + grp * s.Cog * K;
        float* dcol = workspace(1, K * P);
        for (int64_t n = n0; n < n0 + nb; ++n) {
          sgemm(true, false, K, P, s.Cog, 1.f, wg, K, gout + (n * s.Cout + grp * s.Cog) * P, P, 0.f, dcol, P);
          col2im(dcol, s.g, dx + (n * s.C + grp * s.Cg) * HW);
        }
      }
    }
    if (db_parts) {
      double* db = db_parts + slot * s.Cout;
      for (int64_t n = n0; n < n0 + nb; ++n)
        for (int64_t co = 0; co < s.Cout; ++co) db[co] += sum_lanes(gout + (n * s.Cout + co) * P, P);
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
                      float acc = parts[i];
                      for (int t = 1; t < nt; ++t) acc += parts[t * n + i];
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
