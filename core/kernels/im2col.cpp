#include "core/kernels/im2col.h"

#include <algorithm>

namespace norma {
namespace {
// For a kernel column offset off = j*dil - pad, the outputs ow whose input iw = ow*stride + off
// lies inside [0, W) form one range [lo, hi): everything outside it reads padding. Computing
// it once per row keeps the inner loops free of bounds checks.
struct Range {
  int64_t lo, hi;
};
Range valid_range(int64_t off, int64_t stride, int64_t in, int64_t out) {
  int64_t lo = off >= 0 ? 0 : (-off + stride - 1) / stride;      // first ow with iw >= 0
  int64_t hi = in - off <= 0 ? 0 : (in - off - 1) / stride + 1;  // past the last ow with iw < W
  lo = std::min(lo, out);
  hi = std::clamp(hi, lo, out);
  return {lo, hi};
}
}  // namespace

// col[(c*kH + i)*kW + j][oh*oW + ow] = x[c][oh*sh - ph + i*dh][ow*sw - pw + j*dw]  (0 if outside)
void im2col(const float* x, const ConvGeometry& g, float* col) {
  for (int64_t c = 0; c < g.C; ++c) {
    const float* xc = x + c * g.H * g.W;
    for (int64_t i = 0; i < g.kh; ++i) {
      const Range rows = valid_range(i * g.dh - g.ph, g.sh, g.H, g.oh);
      for (int64_t j = 0; j < g.kw; ++j) {
        const int64_t off_w = j * g.dw - g.pw;
        const Range cols = valid_range(off_w, g.sw, g.W, g.ow);
        float* dst = col + ((c * g.kh + i) * g.kw + j) * g.oh * g.ow;
        for (int64_t oh = 0; oh < g.oh; ++oh) {
          float* d = dst + oh * g.ow;
          if (oh < rows.lo || oh >= rows.hi) {
            std::fill(d, d + g.ow, 0.f);
            continue;
          }
          const int64_t base = (oh * g.sh - g.ph + i * g.dh) * g.W + off_w;  // x[ih][iw] = xc[base + ow*sw]
          std::fill(d, d + cols.lo, 0.f);
          if (g.sw == 1)  // the common case: a contiguous copy
            for (int64_t ow = cols.lo; ow < cols.hi; ++ow) d[ow] = xc[base + ow];
          else
            for (int64_t ow = cols.lo; ow < cols.hi; ++ow) d[ow] = xc[base + ow * g.sw];
          std::fill(d + cols.hi, d + g.ow, 0.f);
        }
      }
    }
  }
}

// x[c][ih][iw] = sum over (i, j, oh, ow) with ih = oh*sh - ph + i*dh, iw = ow*sw - pw + j*dw
//               of col[(c*kH + i)*kW + j][oh*oW + ow]
void col2im(const float* col, const ConvGeometry& g, float* x) {
  std::fill(x, x + g.C * g.H * g.W, 0.f);
  for (int64_t c = 0; c < g.C; ++c) {
    float* xc = x + c * g.H * g.W;
    for (int64_t i = 0; i < g.kh; ++i) {
      const Range rows = valid_range(i * g.dh - g.ph, g.sh, g.H, g.oh);
      for (int64_t j = 0; j < g.kw; ++j) {
        const int64_t off_w = j * g.dw - g.pw;
        const Range cols = valid_range(off_w, g.sw, g.W, g.ow);
        const float* src = col + ((c * g.kh + i) * g.kw + j) * g.oh * g.ow;
        for (int64_t oh = rows.lo; oh < rows.hi; ++oh) {
          const float* s = src + oh * g.ow;
          const int64_t base = (oh * g.sh - g.ph + i * g.dh) * g.W + off_w;  // x[ih][iw] = xc[base + ow*sw]
          if (g.sw == 1)
            for (int64_t ow = cols.lo; ow < cols.hi; ++ow) xc[base + ow] += s[ow];
          else
            for (int64_t ow = cols.lo; ow < cols.hi; ++ow) xc[base + ow * g.sw] += s[ow];
        }
      }
    }
  }
}

}  // namespace norma
