// im2col / col2im: unroll the receptive fields of one image into a matrix, so a convolution
// becomes one GEMM (core/ops/conv.cpp).
//
// For one image x [C, H, W] and a kernel kH x kW, the column matrix col has
//   rows    r = (c * kH + i) * kW + j      (c < C, i < kH, j < kW)   -> C*kH*kW rows
//   columns q = oh * oW + ow               (oh < oH, ow < oW)        -> oH*oW columns
// and
//   col[r][q] = x[c][ih][iw],  ih = oh*stride_h - pad_h + i*dil_h,
//                              iw = ow*stride_w - pad_w + j*dil_w,
// or 0 where (ih, iw) falls in the zero padding. The rows follow the memory order of a weight
// [C_out, C, kH, kW], so out[C_out, oH*oW] = weight[C_out, C*kH*kW] @ col.
#pragma once
#include <cstdint>

namespace norma {

struct ConvGeometry {
  int64_t C, H, W;  // input channels (of one group) and size
  int64_t kh, kw;   // kernel
  int64_t sh, sw;   // stride
  int64_t ph, pw;   // zero padding
  int64_t dh, dw;   // dilation
  int64_t oh, ow;   // output size
  int64_t col_rows() const { return C * kh * kw; }
  int64_t col_cols() const { return oh * ow; }
};

// Output size along one dim: (in + 2*pad - dil*(k-1) - 1) / stride + 1, or 0 when the
// kernel does not fit (callers check that first).
inline int64_t conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil) {
  int64_t span = in + 2 * pad - dil * (k - 1) - 1;
  return span < 0 ? 0 : span / stride + 1;
}

// col [C*kH*kW, oH*oW] <- x [C, H, W] (the formula above).
void im2col(const float* x, const ConvGeometry& g, float* col);
// The adjoint: x [C, H, W] <- sum of col entries over every (r, q) that read x[c][ih][iw].
// x is overwritten (not accumulated into).
void col2im(const float* col, const ConvGeometry& g, float* x);

}  // namespace norma
