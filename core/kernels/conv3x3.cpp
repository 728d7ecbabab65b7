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
// The forward tile: 4 output channels x 3 vectors of 8 outputs = 12 accumulators (with 3 loads of
// x and 1 broadcast of w: all 16 AVX2 registers). 4 divides resnet20's 16, 32 and 64 channels,
// where a block of 6 left 11% of the work on padding channels at 16 and 32.
constexpr int64_t kCoBlock = 4;
constexpr int64_t kDwCoBlock = 6;  // the weight-gradient tile: 6 output x 16 input channels

#ifdef NORMA_CONV3X3  // the grids, buffers and kernels below exist only where AVX2 + FMA are built in
int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// The flat grid of one image (see conv3x3.h): output (oh, ow) is q = oh*pitch + ow, the
// columns ow >= W are computed and dropped, and tap k = kh*3 + kw reads the input planes at
// q + off[k].
struct Grid {
  int64_t H, W;    // output size
  int64_t pitch;   // row pitch: W + 1, one dropped column per row
  int64_t Qr;      // outputs computed: H*pitch rounded up to 8 (a vector)
  int64_t Lp;      // floats per input channel: its padded plane, or its four phase planes
  int64_t Lph;     // floats per phase plane (stride 2)
  int64_t off[9];  // where tap k reads, relative to q
};

// Stride 1 on an H x W image: one padded plane per channel with a pitch of W + 1. Rows share
// their padding column: the right neighbour of the last pixel of a row is the left padding
// cell of the next row, so only one column in W + 1 is dropped (not two in W + 2).
Grid stride1_grid(int64_t H, int64_t W) {
  Grid g{H, W, W + 1, round_up(H * (W + 1), 8), 0, 0, {}};
  // The kernel reads up to index Qr - 1 + off[8] <= (H+2)*pitch + 8 of a plane: zero slack past
  // the padded image (it only feeds dropped outputs).
  g.Lp = round_up((H + 2) * g.pitch + 17, 8);
  for (int k = 0; k < 9; ++k) g.off[k] = (k / 3) * g.pitch + k % 3;
  return g;
}

// Stride 2 on an H x W image (output Ho x Wo): the padded image xpad (H+2 x W+2) split into four
// phase planes P[pr][pc][i][j] = xpad[2i + pr][2j + pc], i <= Ho, j <= Wo, pitch Wo + 1. Output
// (oh, ow) reads xpad[2oh + kh][2ow + kw] = P[kh%2][kw%2][oh + kh/2][ow + kw/2]: again a 1-D
// convolution over q, with one dropped column per row.
Grid stride2_grid(int64_t H, int64_t W) {
  const int64_t Ho = (H - 1) / 2 + 1, Wo = (W - 1) / 2 + 1;
  Grid g{Ho, Wo, Wo + 1, round_up(Ho * (Wo + 1), 8), 0, 0, {}};
  g.Lph = round_up((Ho + 1) * g.pitch + 16, 8);  // reads reach Qr - 1 + pitch + 1 of a phase plane
  g.Lp = 4 * g.Lph;
  for (int k = 0; k < 9; ++k) {
    const int64_t kh = k / 3, kw = k % 3;
    g.off[k] = ((kh % 2) * 2 + kw % 2) * g.Lph + (kh / 2) * g.pitch + kw / 2;
  }
  return g;
}

float* scratch(int which, int64_t n) {
  thread_local std::vector<float> bufs[3];  // padded x, padded dout, one block's outputs
  std::vector<float>& b = bufs[which];
  if (int64_t(b.size()) < n) b.resize(size_t(n));
  return b.data();
}

// planes [n, Lp] <- src [n, H, W] (stride-1 grid) with a zero border of 1 and zero slack.
void pad_planes(const float* src, int64_t n, const Grid& g, float* planes) {
  std::fill(planes, planes + n * g.Lp, 0.f);
  for (int64_t c = 0; c < n; ++c)
    for (int64_t h = 0; h < g.H; ++h)
      std::memcpy(planes + c * g.Lp + (h + 1) * g.pitch + 1, src + (c * g.H + h) * g.W, size_t(g.W) * sizeof(float));
}

// planes [n][4][Lph] <- the phase planes of src [n, H, W] (stride-2 grid g).
void phase_planes(const float* src, int64_t n, int64_t H, int64_t W, const Grid& g, float* planes) {
  std::fill(planes, planes + n * g.Lp, 0.f);
  for (int64_t c = 0; c < n; ++c)
    for (int64_t p = 0; p < 4; ++p) {
      const int64_t pr = p / 2, pc = p % 2;
      // x column 2j + pc - 1 lies in [0, W) for j in [j0, j1)
      const int64_t j0 = 1 - pc, j1 = std::min((W + 2 - pc) / 2, g.W + 1);
      float* plane = planes + c * g.Lp + p * g.Lph;
      for (int64_t i = 0; i <= g.H; ++i) {
        const int64_t r = 2 * i + pr - 1;  // the row of x (xpad row 2i + pr)
        if (r < 0 || r >= H) continue;
        const float* xr = src + (c * H + r) * W + pc - 1;
        float* row = plane + i * g.pitch;
        for (int64_t j = j0; j < j1; ++j) row[j] = xr[2 * j];
      }
    }
}

// acc[c][v] over V*8 outputs q.. of the 4 output channels of one block (V = 3; 2 or 1 for the
// last 16 or 8 of a grid):
//   out[c][q + i] = sum_{ci < C, k < 9} wb[ci][k][c] * xp[ci][q + i + off[k]]
template <int V>
void forward_tile(const float* xp, int64_t Lp, int64_t C, const float* wb, const int64_t* off, float* out,
                  int64_t ld) {
  __m256 acc[kCoBlock][V];
#pragma GCC unroll 4
  for (int c = 0; c < kCoBlock; ++c)
    for (int v = 0; v < V; ++v) acc[c][v] = _mm256_setzero_ps();
  for (int64_t ci = 0; ci < C; ++ci) {
    const float* xc = xp + ci * Lp;
    const float* wc = wb + ci * 9 * kCoBlock;
#pragma GCC unroll 9
    for (int k = 0; k < 9; ++k) {
      __m256 xv[V];
      for (int v = 0; v < V; ++v) xv[v] = _mm256_loadu_ps(xc + off[k] + 8 * v);
#pragma GCC unroll 4
      for (int c = 0; c < kCoBlock; ++c) {
        const __m256 w = _mm256_broadcast_ss(wc + k * kCoBlock + c);
        for (int v = 0; v < V; ++v) acc[c][v] = _mm256_fmadd_ps(w, xv[v], acc[c][v]);
      }
    }
  }
#pragma GCC unroll 4
  for (int c = 0; c < kCoBlock; ++c)
    for (int v = 0; v < V; ++v) _mm256_storeu_ps(out + c * ld + 8 * v, acc[c][v]);
}

// The forward form on prepared planes: out [Cout, H, W] = conv(planes [C, Lp]) + bias.
void forward_planes(const float* planes, const float* packed, const float* bias, int64_t C, int64_t Cout,
                    const Grid& g, float* out) {
  float* tile = scratch(2, kCoBlock * g.Qr);  // [4, Qr]: one block's outputs on the flat grid
  for (int64_t cb = 0; cb * kCoBlock < Cout; ++cb) {
    const float* wb = packed + cb * C * 9 * kCoBlock;
    int64_t q = 0;
    for (; q + 24 <= g.Qr; q += 24) forward_tile<3>(planes + q, g.Lp, C, wb, g.off, tile + q, g.Qr);
    if (q + 16 == g.Qr) forward_tile<2>(planes + q, g.Lp, C, wb, g.off, tile + q, g.Qr);
    if (q + 8 == g.Qr) forward_tile<1>(planes + q, g.Lp, C, wb, g.off, tile + q, g.Qr);
    // keep the W real columns of each row (q = oh*pitch + ow, ow < W)
    for (int64_t c = 0; c < kCoBlock && cb * kCoBlock + c < Cout; ++c) {
      const int64_t co = cb * kCoBlock + c;
      const float b = bias ? bias[co] : 0.f;
      for (int64_t h = 0; h < g.H; ++h) {
        const float* src = tile + c * g.Qr + h * g.pitch;
        float* dst = out + (co * g.H + h) * g.W;
        for (int64_t w = 0; w < g.W; ++w) dst[w] = src[w] + b;
      }
    }
  }
}

// dw9[k][co][ci] += sum_{q < Qr} dout'[co][q] * xt[q + off_k][ci] with the image channels-last
// (xt [Lp][C], C a multiple of 16) and dout' = dpad shifted by pitch + 1. One block: R <= 6
// output channels (from co0) x 16 input channels (from ci0) of accumulators, one broadcast of
// dout and two vector loads of x per 2R FMAs.
template <int R>
void weight_grad_block(const float* xq, const float* dq, const Grid& g, int64_t C, float* o) {
  __m256 acc[R][2];
  for (int c = 0; c < R; ++c) acc[c][0] = acc[c][1] = _mm256_setzero_ps();
  for (int64_t q = 0; q < g.Qr; ++q) {
    const __m256 x0 = _mm256_loadu_ps(xq + q * C), x1 = _mm256_loadu_ps(xq + q * C + 8);
    for (int c = 0; c < R; ++c) {
      const __m256 dv = _mm256_broadcast_ss(dq + c * g.Lp + q);
      acc[c][0] = _mm256_fmadd_ps(dv, x0, acc[c][0]);
      acc[c][1] = _mm256_fmadd_ps(dv, x1, acc[c][1]);
    }
  }
  for (int c = 0; c < R; ++c) {
    _mm256_storeu_ps(o + c * C, _mm256_add_ps(_mm256_loadu_ps(o + c * C), acc[c][0]));
    _mm256_storeu_ps(o + c * C + 8, _mm256_add_ps(_mm256_loadu_ps(o + c * C + 8), acc[c][1]));
  }
}

// One tap's [Cout, C] block of dw9: blocks of 6 output channels, the last one of Cout % 6.
void weight_grad_tap(const float* xt, const float* dpad, int64_t C, int64_t Cout, const Grid& g, int64_t off,
                     float* dwk) {
  for (int64_t co0 = 0; co0 < Cout; co0 += kDwCoBlock) {
    const float* dq = dpad + co0 * g.Lp + g.pitch + 1;
    for (int64_t ci0 = 0; ci0 < C; ci0 += 16) {
      const float* xq = xt + off * C + ci0;
      float* o = dwk + co0 * C + ci0;
      switch (std::min<int64_t>(kDwCoBlock, Cout - co0)) {
        case 6: weight_grad_block<6>(xq, dq, g, C, o); break;
        case 5: weight_grad_block<5>(xq, dq, g, C, o); break;
        case 4: weight_grad_block<4>(xq, dq, g, C, o); break;
        case 3: weight_grad_block<3>(xq, dq, g, C, o); break;
        case 2: weight_grad_block<2>(xq, dq, g, C, o); break;
        default: weight_grad_block<1>(xq, dq, g, C, o); break;
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
                     int64_t W, int64_t stride, float* out) {
#ifdef NORMA_CONV3X3
  if (stride == 1) {
    const Grid g = stride1_grid(H, W);
    float* xpad = scratch(0, C * g.Lp);
    pad_planes(x, C, g, xpad);
    forward_planes(xpad, packed, bias, C, Cout, g, out);
  } else {
    const Grid g = stride2_grid(H, W);
    float* xph = scratch(0, C * g.Lp);
    phase_planes(x, C, H, W, g, xph);
    forward_planes(xph, packed, bias, C, Cout, g, out);
  }
#else
  (void)x, (void)packed, (void)bias, (void)C, (void)Cout, (void)H, (void)W, (void)stride, (void)out;
#endif
}

void conv3x3_backward(const float* x, const float* gout, const float* packed_t, int64_t C, int64_t Cout, int64_t H,
                      int64_t W, float* dx, float* dw9) {
#ifdef NORMA_CONV3X3
  const Grid g = stride1_grid(H, W);
  float* dpad = scratch(1, Cout * g.Lp);
  pad_planes(gout, Cout, g, dpad);
  if (dx) forward_planes(dpad, packed_t, nullptr, Cout, C, g, dx);  // dx = conv(dout, flipped w^T)
  if (dw9) {
    // dw9[k] [Cout, C] += dout' [Cout, Qr] @ (xpad + off_k)^T [Qr, C]: dout' = dpad shifted by
    // pitch + 1 is dout on the flat grid with zeros in the dropped columns, and the rows of
    // xpad + off_k are channel planes Lp apart, so each tap is one sgemm on the padded planes.
    if (C % 16 == 0) {
      // channels-last padded image: xt[(h+1)*pitch + w+1][ci] = x[ci][h][w], zeros elsewhere
      float* xt = scratch(0, g.Lp * C);
      std::fill(xt, xt + g.Lp * C, 0.f);
      for (int64_t ci = 0; ci < C; ++ci)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t w = 0; w < W; ++w) xt[((h + 1) * g.pitch + w + 1) * C + ci] = x[(ci * H + h) * W + w];
      for (int64_t k = 0; k < 9; ++k)
        weight_grad_tap(xt, dpad, C, Cout, g, g.off[k], dw9 + k * Cout * C);
      return;
    }
    float* xpad = scratch(0, C * g.Lp);
    pad_planes(x, C, g, xpad);
    for (int64_t k = 0; k < 9; ++k)
      sgemm(false, true, Cout, C, g.Qr, 1.f, dpad + g.pitch + 1, g.Lp, xpad + g.off[k], g.Lp, 1.f,
            dw9 + k * Cout * C, C);
  }
#else
  (void)x, (void)gout, (void)packed_t, (void)C, (void)Cout, (void)H, (void)W, (void)dx, (void)dw9;
#endif
}

}  // namespace norma
