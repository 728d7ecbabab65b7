// 2-d pooling over [N, C, H, W]: max, average, adaptive average and global average.
//
// Every op works plane by plane (one (n, c) image of H x W), so the planes are split over
// OpenMP threads; a backward writes only into its own plane, so there are no races and the
// results do not depend on the thread count.
#include "core/ops/pool.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "core/autograd.h"
#include "core/kernels/broadcast.h"
#include "core/kernels/im2col.h"

namespace norma {
namespace {

struct PoolShape {
  int64_t planes, H, W;  // planes = N * C
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;
  int64_t oh, ow;
  Shape out_shape;
};

void check_input(const char* op, const Tensor& x) {
  NORMA_CHECK(x.dim() == 4, op, ": expected input [N, C, H, W], got ", x.shape());
}

PoolShape pool_shape(const char* op, const Tensor& x, IntPair k, IntPair stride, IntPair pad, IntPair dil) {
  check_input(op, x);
  if (stride.h == 0) stride.h = k.h;  // PyTorch's default: stride = kernel
  if (stride.w == 0) stride.w = k.w;
  NORMA_CHECK(k.h >= 1 && k.w >= 1, op, ": kernel_size must be >= 1, got ", k.h, "x", k.w);
  NORMA_CHECK(stride.h >= 1 && stride.w >= 1, op, ": stride must be >= 1 (or 0 for the kernel size), got ", stride.h,
              "x", stride.w);
  NORMA_CHECK(dil.h >= 1 && dil.w >= 1, op, ": dilation must be >= 1, got ", dil.h, "x", dil.w);
  NORMA_CHECK(pad.h >= 0 && pad.w >= 0 && pad.h <= k.h / 2 && pad.w <= k.w / 2, op, ": padding ", pad.h, "x", pad.w,
              " must be >= 0 and at most half the kernel ", k.h, "x", k.w);
  PoolShape s;
  s.planes = x.size(0) * x.size(1), s.H = x.size(2), s.W = x.size(3);
  s.kh = k.h, s.kw = k.w, s.sh = stride.h, s.sw = stride.w, s.ph = pad.h, s.pw = pad.w, s.dh = dil.h, s.dw = dil.w;
  const int64_t ekh = s.dh * (s.kh - 1) + 1, ekw = s.dw * (s.kw - 1) + 1;
  NORMA_CHECK(ekh <= s.H + 2 * s.ph && ekw <= s.W + 2 * s.pw, op, ": kernel ", ekh, "x", ekw,
              " (after dilation) is larger than the padded input ", s.H + 2 * s.ph, "x", s.W + 2 * s.pw, "; input ",
              x.shape());
  s.oh = conv_out_size(s.H, s.kh, s.sh, s.ph, s.dh);
  s.ow = conv_out_size(s.W, s.kw, s.sw, s.pw, s.dw);
  s.out_shape = {x.size(0), x.size(1), s.oh, s.ow};
  return s;
}

// Runs body(plane) for every plane, over threads when the work is big enough.
template <typename F>
void for_each_plane(int64_t planes, int64_t work, F body) {
#pragma omp parallel for schedule(static) if (work > kParallelGrain)
  for (int64_t p = 0; p < planes; ++p) body(p);
}

}  // namespace

// out[oh][ow] = max over i < kH, j < kW of x[oh*sh - ph + i*dh][ow*sw - pw + j*dw] (padding is
// -inf; NaN wins, as in PyTorch); argmax[oh][ow] = the plane index of that element.
// dx[argmax[oh][ow]] += dout[oh][ow]
Tensor max_pool2d(const Tensor& x, IntPair kernel_size, IntPair stride, IntPair padding, IntPair dilation) {
  const PoolShape s = pool_shape("max_pool2d", x, kernel_size, stride, padding, dilation);
  NORMA_CHECK(s.H * s.W <= std::numeric_limits<int32_t>::max(), "max_pool2d: plane ", s.H, "x", s.W, " too large");
  Tensor xc = x.detach().contiguous();
  Tensor out = empty(s.out_shape);
  // The argmax indices live in a buffer of the caching allocator (float-sized slots read only
  // as int32): a fresh std::vector each step was page-faulted in and zeroed every time.
  Tensor argmax_buf = empty(s.out_shape);
  int32_t* ap = reinterpret_cast<int32_t*>(argmax_buf.data());
  const float* xp = xc.data();
  float* op = out.data();
  const bool pool2x2 = s.kh == 2 && s.kw == 2 && s.sh == 2 && s.sw == 2 && s.ph == 0 && s.pw == 0 && s.dh == 1 &&
                       s.dw == 1;
  for_each_plane(s.planes, xc.numel(), [&](int64_t p) {
    const float* xin = xp + p * s.H * s.W;
    if (pool2x2) {
      // The common 2x2 / stride 2 window without bounds checks or branches: the same order of
      // comparisons as below (row by row, the first maximum kept, NaN wins).
      for (int64_t oh = 0; oh < s.oh; ++oh) {
        const int32_t i0 = int32_t(2 * oh * s.W);
        const float *r0 = xin + i0, *r1 = r0 + s.W;
        float* orow = op + (p * s.oh + oh) * s.ow;
        int32_t* arow = ap + (p * s.oh + oh) * s.ow;
#pragma omp simd  // the selects become vector blends: no branch to mispredict on random data
        for (int64_t ow = 0; ow < s.ow; ++ow) {
          const int32_t j = int32_t(2 * ow);
          float best = -std::numeric_limits<float>::infinity();
          int32_t arg = -1;
          const float v0 = r0[j], v1 = r0[j + 1], v2 = r1[j], v3 = r1[j + 1];
          const bool t0 = v0 > best || v0 != v0;
          best = t0 ? v0 : best, arg = t0 ? i0 + j : arg;
          const bool t1 = v1 > best || v1 != v1;
          best = t1 ? v1 : best, arg = t1 ? i0 + j + 1 : arg;
          const bool t2 = v2 > best || v2 != v2;
          best = t2 ? v2 : best, arg = t2 ? i0 + int32_t(s.W) + j : arg;
          const bool t3 = v3 > best || v3 != v3;
          best = t3 ? v3 : best, arg = t3 ? i0 + int32_t(s.W) + j + 1 : arg;
          orow[ow] = best, arow[ow] = arg;
        }
      }
      return;
    }
    for (int64_t oh = 0; oh < s.oh; ++oh)
      for (int64_t ow = 0; ow < s.ow; ++ow) {
        float best = -std::numeric_limits<float>::infinity();
        int32_t arg = -1;  // stays -1 only if the window is all padding
        for (int64_t i = 0; i < s.kh; ++i) {
          const int64_t ih = oh * s.sh - s.ph + i * s.dh;
          if (ih < 0 || ih >= s.H) continue;
          for (int64_t j = 0; j < s.kw; ++j) {
            const int64_t iw = ow * s.sw - s.pw + j * s.dw;
            if (iw < 0 || iw >= s.W) continue;
            const float v = xin[ih * s.W + iw];
            if (v > best || std::isnan(v)) best = v, arg = int32_t(ih * s.W + iw);
          }
        }
        const int64_t o = (p * s.oh + oh) * s.ow + ow;
        op[o] = best;
        ap[o] = arg;
      }
  });
  return record("max_pool2d", out, {x}, [s, argmax_buf](const Tensor& gout_in) -> std::vector<Tensor> {
    Tensor gout = gout_in.contiguous();
    Tensor dx = zeros({s.out_shape[0], s.out_shape[1], s.H, s.W});
    const float* g = gout.data();
    const int32_t* a = reinterpret_cast<const int32_t*>(argmax_buf.data());
    float* d = dx.data();
    const int64_t per_plane = s.oh * s.ow;
    for_each_plane(s.planes, dx.numel(), [&](int64_t p) {
      for (int64_t o = p * per_plane; o < (p + 1) * per_plane; ++o)
        if (a[o] >= 0) d[p * s.H * s.W + a[o]] += g[o];
    });
    return {dx};
  });
}

// Window rows [oh*sh - ph, oh*sh - ph + kH) clipped to the padded input [-ph, H + ph), and
// likewise for columns.
//   out[oh][ow] = sum of x over the window clipped to the real input / divisor
// divisor = the window's size inside the padded input (count_include_pad, PyTorch's default)
//           or inside the real input (count_include_pad = false).
// dx[ih][iw] += dout[oh][ow] / divisor for every window containing (ih, iw).
Tensor avg_pool2d(const Tensor& x, IntPair kernel_size, IntPair stride, IntPair padding, bool count_include_pad) {
  const PoolShape s = pool_shape("avg_pool2d", x, kernel_size, stride, padding, 1);
  // The clipped window of output (oh, ow) and its divisor; shared by forward and backward.
  struct Window {
    int64_t h0, h1, w0, w1;
    float divisor;
  };
  auto window = [s, count_include_pad](int64_t oh, int64_t ow) {
    int64_t h0 = oh * s.sh - s.ph, w0 = ow * s.sw - s.pw;
    int64_t h1 = std::min(h0 + s.kh, s.H + s.ph), w1 = std::min(w0 + s.kw, s.W + s.pw);
    const int64_t padded = (h1 - h0) * (w1 - w0);
    h0 = std::max<int64_t>(h0, 0), w0 = std::max<int64_t>(w0, 0);
    h1 = std::min(h1, s.H), w1 = std::min(w1, s.W);
    return Window{h0, h1, w0, w1, float(count_include_pad ? padded : (h1 - h0) * (w1 - w0))};
  };
  Tensor xc = x.detach().contiguous();
  Tensor out = empty(s.out_shape);
  const float* xp = xc.data();
  float* op = out.data();
  for_each_plane(s.planes, xc.numel(), [&](int64_t p) {
    const float* xin = xp + p * s.H * s.W;
    for (int64_t oh = 0; oh < s.oh; ++oh)
      for (int64_t ow = 0; ow < s.ow; ++ow) {
        const Window win = window(oh, ow);
        float acc = 0.f;
        for (int64_t ih = win.h0; ih < win.h1; ++ih)
          for (int64_t iw = win.w0; iw < win.w1; ++iw) acc += xin[ih * s.W + iw];
        op[(p * s.oh + oh) * s.ow + ow] = acc / win.divisor;
      }
  });
  return record("avg_pool2d", out, {x}, [s, window](const Tensor& gout_in) -> std::vector<Tensor> {
    Tensor gout = gout_in.contiguous();
    Tensor dx = zeros({s.out_shape[0], s.out_shape[1], s.H, s.W});
    const float* g = gout.data();
    float* d = dx.data();
    for_each_plane(s.planes, dx.numel(), [&](int64_t p) {
      float* dp = d + p * s.H * s.W;
      for (int64_t oh = 0; oh < s.oh; ++oh)
        for (int64_t ow = 0; ow < s.ow; ++ow) {
          const Window win = window(oh, ow);
          const float share = g[(p * s.oh + oh) * s.ow + ow] / win.divisor;
          for (int64_t ih = win.h0; ih < win.h1; ++ih)
            for (int64_t iw = win.w0; iw < win.w1; ++iw) dp[ih * s.W + iw] += share;
        }
    });
    return {dx};
  });
}

// Bins as PyTorch: output row i averages input rows [floor(i*H/oh), ceil((i+1)*H/oh)), and
// likewise for columns. Bins may overlap when H is not a multiple of oh.
//   out[i][j] = mean of x over bin (i, j);  dx[h][w] += dout[i][j] / |bin| for each bin holding (h, w)
Tensor adaptive_avg_pool2d(const Tensor& x, IntPair output_size) {
  check_input("adaptive_avg_pool2d", x);
  NORMA_CHECK(output_size.h >= 1 && output_size.w >= 1, "adaptive_avg_pool2d: output size must be >= 1, got ",
              output_size.h, "x", output_size.w);
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  const int64_t oh = output_size.h, ow = output_size.w;
  NORMA_CHECK(H >= 1 && W >= 1, "adaptive_avg_pool2d: empty input plane in ", x.shape());
  auto bin_start = [](int64_t i, int64_t in, int64_t out) { return i * in / out; };
  auto bin_end = [](int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; };
  Tensor xc = x.detach().contiguous();
  Tensor out = empty({x.size(0), x.size(1), oh, ow});
  const float* xp = xc.data();
  float* op = out.data();
  for_each_plane(planes, xc.numel(), [&](int64_t p) {
    const float* xin = xp + p * H * W;
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) {
        const int64_t h0 = bin_start(i, H, oh), h1 = bin_end(i, H, oh);
        const int64_t w0 = bin_start(j, W, ow), w1 = bin_end(j, W, ow);
        float acc = 0.f;
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) acc += xin[h * W + w];
        op[(p * oh + i) * ow + j] = acc / float((h1 - h0) * (w1 - w0));
      }
  });
  return record(
      "adaptive_avg_pool2d", out, {x},
      [xs = x.shape(), planes, H, W, oh, ow, bin_start, bin_end](const Tensor& gout_in) -> std::vector<Tensor> {
        Tensor gout = gout_in.contiguous();
        Tensor dx = zeros(xs);
        const float* g = gout.data();
        float* d = dx.data();
        for_each_plane(planes, dx.numel(), [&](int64_t p) {
          float* dp = d + p * H * W;
          for (int64_t i = 0; i < oh; ++i)
            for (int64_t j = 0; j < ow; ++j) {
              const int64_t h0 = bin_start(i, H, oh), h1 = bin_end(i, H, oh);
              const int64_t w0 = bin_start(j, W, ow), w1 = bin_end(j, W, ow);
              const float share = g[(p * oh + i) * ow + j] / float((h1 - h0) * (w1 - w0));
              for (int64_t h = h0; h < h1; ++h)
                for (int64_t w = w0; w < w1; ++w) dp[h * W + w] += share;
            }
        });
        return {dx};
      });
}

// out[n][c] = mean over h, w of x[n][c][h][w];  dx[n][c][h][w] = dout[n][c] / (H*W)
Tensor global_avg_pool2d(const Tensor& x) {
  check_input("global_avg_pool2d", x);
  const int64_t planes = x.size(0) * x.size(1), HW = x.size(2) * x.size(3);
  NORMA_CHECK(HW >= 1, "global_avg_pool2d: empty input plane in ", x.shape());
  Tensor xc = x.detach().contiguous();
  Tensor out = empty({x.size(0), x.size(1)});
  const float* xp = xc.data();
  float* op = out.data();
  for_each_plane(planes, xc.numel(), [&](int64_t p) {
    double acc = 0;  // planes can be large: sum in double
    for (int64_t i = 0; i < HW; ++i) acc += xp[p * HW + i];
    op[p] = float(acc / double(HW));
  });
  return record("global_avg_pool2d", out, {x},
                [xs = x.shape(), planes, HW](const Tensor& gout_in) -> std::vector<Tensor> {
                  Tensor gout = gout_in.contiguous();
                  Tensor dx = empty(xs);
                  const float* g = gout.data();
                  float* d = dx.data();
                  for_each_plane(planes, dx.numel(), [&](int64_t p) {
                    const float share = g[p] / float(HW);
                    for (int64_t i = 0; i < HW; ++i) d[p * HW + i] = share;
                  });
                  return {dx};
                });
}

}  // namespace norma
