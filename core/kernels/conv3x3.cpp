#include "core/kernels/conv3x3.h"

#include "core/kernels/gemm.h"

#include <algorithm>
#include <cstring>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define NORMA_CONV3X3 1
#endif

namespace norma {

bool conv3x3_available() {
#ifdef NORMA_CONV3X3
  return true;
#else
  return false;
#endif
}

namespace {
constexpr int64_t kCoBlock = 6;  // output channels per forward block: 6 x 2 vector accumulators

int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// The padded-width grid of one image (see conv3x3.h).
struct Grid {
  int64_t H, W, W2, Q, Qr, Lp;  // W2 = W + 2; Q = H*W2 outputs; Qr = Q rounded up to 16; Lp = plane stride
  Grid(int64_t h, int64_t w) : H(h), W(w), W2(w + 2), Q(h * (w + 2)), Qr(round_up(Q, 16)) {
    // The kernel reads up to xpad[Qr - 1 + 2*W2 + 2] <= (H+2)*W2 + 16 of a plane: zero slack
    // past the padded image (it only feeds the dropped outputs).
    Lp = round_up((h + 2) * W2 + 17, 8);
  }
};

#ifdef NORMA_CONV3X3  // the buffers and kernels below exist only where AVX2 + FMA are built in
float* scratch(int which, int64_t n) {
  thread_local std::vector<float> bufs[3];  // padded x, padded dout, one block's outputs
  std::vector<float>& b = bufs[which];
  if (int64_t(b.size()) < n) b.resize(size_t(n));
  return b.data();
}

// planes [n, Lp] <- src [n, H, W] with a zero border of 1 and zero slack.
void pad_planes(const float* src, int64_t n, const Grid& g, float* planes) {
  std::fill(planes, planes + n * g.Lp, 0.f);
  for (int64_t c = 0; c < n; ++c)
    for (int64_t h = 0; h < g.H; ++h)
      std::memcpy(planes + c * g.Lp + (h + 1) * g.W2 + 1, src + (c * g.H + h) * g.W, size_t(g.W) * sizeof(float));
}

// acc[c][v] over 16 outputs q..q+15 of the 6 output channels of one block:
//   out[c][q + i] = sum_{ci < C, k < 9} wb[ci][k][c] * xp[ci][q + i + off[k]]
void forward_tile(const float* xp, int64_t Lp, int64_t C, const float* wb, const int64_t* off, float* out,
                  int64_t ld) {
  __m256 acc[kCoBlock][2];
#pragma GCC unroll 6
  for (int c = 0; c < kCoBlock; ++c) acc[c][0] = acc[c][1] = _mm256_setzero_ps();
  for (int64_t ci = 0; ci < C; ++ci) {
    const float* xc = xp + ci * Lp;
    const float* wc = wb + ci * 9 * kCoBlock;
#pragma GCC unroll 9
    for (int k = 0; k < 9; ++k) {
      const __m256 x0 = _mm256_loadu_ps(xc + off[k]), x1 = _mm256_loadu_ps(xc + off[k] + 8);
#pragma GCC unroll 6
      for (int c = 0; c < kCoBlock; ++c) {
        const __m256 w = _mm256_broadcast_ss(wc + k * kCoBlock + c);
        acc[c][0] = _mm256_fmadd_ps(w, x0, acc[c][0]);
        acc[c][1] = _mm256_fmadd_ps(w, x1, acc[c][1]);
      }
    }
  }
#pragma GCC unroll 6
  for (int c = 0; c < kCoBlock; ++c) {
    _mm256_storeu_ps(out + c * ld, acc[c][0]);
    _mm256_storeu_ps(out + c * ld + 8, acc[c][1]);
  }
}

// The forward form on padded planes: out [Cout, H, W] = conv(planes [C, Lp]) + bias.
void forward_planes(const float* planes, const float* packed, const float* bias, int64_t C, int64_t Cout,
                    const Grid& g, float* out) {
  const int64_t off[9] = {0, 1, 2, g.W2, g.W2 + 1, g.W2 + 2, 2 * g.W2, 2 * g.W2 + 1, 2 * g.W2 + 2};
  float* tile = scratch(2, kCoBlock * g.Qr);  // [6, Qr]: one block's outputs on the padded-width grid
  for (int64_t cb = 0; cb * kCoBlock < Cout; ++cb) {
    const float* wb = packed + cb * C * 9 * kCoBlock;
    for (int64_t q = 0; q < g.Qr; q += 16) forward_tile(planes + q, g.Lp, C, wb, off, tile + q, g.Qr);
    // keep the W real columns of each row (q = oh*W2 + ow, ow < W)
    for (int64_t c = 0; c < kCoBlock && cb * kCoBlock + c < Cout; ++c) {
      const int64_t co = cb * kCoBlock + c;
      const float b = bias ? bias[co] : 0.f;
      for (int64_t h = 0; h < g.H; ++h) {
        const float* src = tile + c * g.Qr + h * g.W2;
        float* dst = out + (co * g.H + h) * g.W;
        for (int64_t w = 0; w < g.W; ++w) dst[w] = src[w] + b;
      }
    }
  }
}


// dw9[k][co][ci] += sum_{q < Qr} dout'[co][q] * xt[q + off_k][ci] with the image channels-last
// (xt [Lp][C], C a multiple of 16) and dout' = dpad shifted by W2 + 1: for each tap, 6 output
// channels x 16 input channels of accumulators, one broadcast of dout and two vector loads of
// x per 12 FMAs. Rows of a partial block of output channels read a valid row and are not kept.
void weight_grad_tap(const float* xt, const float* dpad, int64_t C, int64_t Cout, const Grid& g, int64_t off,
                     float* dwk) {
  for (int64_t co0 = 0; co0 < Cout; co0 += kCoBlock) {
    const float* d[kCoBlock];
    for (int c = 0; c < kCoBlock; ++c) d[c] = dpad + std::min<int64_t>(co0 + c, Cout - 1) * g.Lp + g.W2 + 1;
    for (int64_t ci0 = 0; ci0 < C; ci0 += 16) {
      __m256 acc[kCoBlock][2];
#pragma GCC unroll 6
      for (int c = 0; c < kCoBlock; ++c) acc[c][0] = acc[c][1] = _mm256_setzero_ps();
      const float* xq = xt + off * C + ci0;
      for (int64_t q = 0; q < g.Qr; ++q) {
        const __m256 x0 = _mm256_loadu_ps(xq + q * C), x1 = _mm256_loadu_ps(xq + q * C + 8);
#pragma GCC unroll 6
        for (int c = 0; c < kCoBlock; ++c) {
          const __m256 dv = _mm256_broadcast_ss(d[c] + q);
          acc[c][0] = _mm256_fmadd_ps(dv, x0, acc[c][0]);
          acc[c][1] = _mm256_fmadd_ps(dv, x1, acc[c][1]);
        }
      }
      for (int c = 0; c < kCoBlock && co0 + c < Cout; ++c) {
        float* o = dwk + (co0 + c) * C + ci0;
        _mm256_storeu_ps(o, _mm256_add_ps(_mm256_loadu_ps(o), acc[c][0]));
        _mm256_storeu_ps(o + 8, _mm256_add_ps(_mm256_loadu_ps(o + 8), acc[c][1]));
      }
    }
  }
}
#endif

}  // namespace

std::vector<float> conv3x3_pack(const float* w, int64_t Cout, int64_t C, bool transpose_flip) {
  // The kernel's view: n_out output and n_in input channels, weight(o, i, k).
  const int64_t n_out = transpose_flip ? C : Cout, n_in = transpose_flip ? Cout : C;
  const int64_t blocks = (n_out + kCoBlock - 1) / kCoBlock;
  std::vector<float> packed(size_t(blocks * n_in * 9 * kCoBlock), 0.f);
  for (int64_t cb = 0; cb < blocks; ++cb)
    for (int64_t i = 0; i < n_in; ++i)
      for (int64_t k = 0; k < 9; ++k)
        for (int64_t c = 0; c < kCoBlock && cb * kCoBlock + c < n_out; ++c) {
          const int64_t o = cb * kCoBlock + c;
          // forward: w[o][i][k]; dx: w'[o = ci][i = co][k] = w[co][ci][8 - k] (flipped 3x3)
          const float v = transpose_flip ? w[(i * C + o) * 9 + (8 - k)] : w[(o * C + i) * 9 + k];
          packed[size_t(((cb * n_in + i) * 9 + k) * kCoBlock + c)] = v;
        }
  return packed;
}

void conv3x3_forward(const float* x, const float* packed, const float* bias, int64_t C, int64_t Cout, int64_t H,
                     int64_t W, float* out) {
#ifdef NORMA_CONV3X3
  const Grid g(H, W);
  float* xpad = scratch(0, C * g.Lp);
  pad_planes(x, C, g, xpad);
  forward_planes(xpad, packed, bias, C, Cout, g, out);
#else
  (void)x, (void)packed, (void)bias, (void)C, (void)Cout, (void)H, (void)W, (void)out;
#endif
}

void conv3x3_backward(const float* x, const float* gout, const float* packed_t, int64_t C, int64_t Cout, int64_t H,
                      int64_t W, float* dx, float* dw9) {
#ifdef NORMA_CONV3X3
  const Grid g(H, W);
  float* dpad = scratch(1, Cout * g.Lp);
  pad_planes(gout, Cout, g, dpad);
  if (dx) forward_planes(dpad, packed_t, nullptr, Cout, C, g, dx);  // dx = conv(dout, flipped w^T)
  if (dw9) {
    // dw9[k] [Cout, C] += dout' [Cout, Qr] @ (xpad + off_k)^T [Qr, C]: dout' = dpad shifted by
    // W2 + 1 is dout on the padded-width grid with zeros in the dropped columns, and the rows of
    // xpad + off_k are channel planes Lp apart, so each tap is one sgemm on the padded planes.
    if (C % 16 == 0) {
      // channels-last padded image: xt[(h+1)*W2 + w+1][ci] = x[ci][h][w], zeros elsewhere
      float* xt = scratch(0, g.Lp * C);
      std::fill(xt, xt + g.Lp * C, 0.f);
      for (int64_t ci = 0; ci < C; ++ci)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t w = 0; w < W; ++w) xt[((h + 1) * g.W2 + w + 1) * C + ci] = x[(ci * H + h) * W + w];
      for (int64_t k = 0; k < 9; ++k)
        weight_grad_tap(xt, dpad, C, Cout, g, (k / 3) * g.W2 + k % 3, dw9 + k * Cout * C);
      return;
    }
    float* xpad = scratch(0, C * g.Lp);
    pad_planes(x, C, g, xpad);
    for (int64_t k = 0; k < 9; ++k)
      sgemm(false, true, Cout, C, g.Qr, 1.f, dpad + g.W2 + 1, g.Lp, xpad + (k / 3) * g.W2 + k % 3, g.Lp, 1.f,
            dw9 + k * Cout * C, C);
  }
#else
  (void)x, (void)gout, (void)packed_t, (void)C, (void)Cout, (void)H, (void)W, (void)dx, (void)dw9;
#endif
}

}  // namespace norma
