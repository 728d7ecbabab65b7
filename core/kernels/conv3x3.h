// Direct 3x3 convolution, padding 1, no dilation, one group, stride 1 (or 2, forward only):
// the shape of nearly every conv in resnet20 and lenet. No im2col: the kernels read a
// zero-padded copy of the image in place.
//
// The trick that makes every width vectorize the same way: with the image padded and laid out
// flat per channel with a row pitch of W + 1 (rows share one padding column: the cell right of
// a row's last pixel is the next row's left padding), the output at (oh, ow) sits at
// q = oh*(W+1) + ow of a flat grid, and
//
//   out[co][q] = sum_{ci, kh, kw} w[co][ci][kh][kw] * xpad[ci][q + kh*(W+1) + kw]
//
// is a 1-D convolution over q: 24 consecutive q are three AVX2 vectors whatever W is. The column
// q with ow = W is computed and dropped (3% extra work at W = 32, 11% at 8).
//
// Stride 2 (forward only) is the same 1-D convolution on the four phase planes of the padded
// image, P[pr][pc][i][j] = xpad[2i + pr][2j + pc]: output (oh, ow) reads tap (kh, kw) from
// P[kh%2][kw%2] at (oh + kh/2, ow + kw/2).
//
// The input gradient is the same kernel run on the zero-padded output gradient with the
// weights flipped (kh, kw -> 2-kh, 2-kw) and transposed (ci <-> co):
//
//   dx[ci][q] = sum_{co, kh, kw} w[co][ci][2-kh][2-kw] * dout_pad[co][q + kh*(W+1) + kw]
//
// and the weight gradient is, for each tap k = kh*3 + kw,
//
//   dw[:, :, k] += dout_pad[:, W+2 : W+2+Qr] @ (xpad[:, off_k : off_k+Qr])^T,  off_k = kh*(W+1) + kw
//
// computed by a register-blocked kernel on a channels-last copy of the padded image when C is a
// multiple of 16 (1.3-1.6x faster than im2col + sgemm on resnet20's shapes), else by one sgemm
// per tap on the padded planes.
//
// Built only where the compiler targets AVX2 + FMA (-march=native on such a CPU);
// conv3x3_available() says so, and conv2d falls back to im2col + sgemm otherwise.
#pragma once
#include <cstdint>
#include <vector>

namespace norma {

bool conv3x3_available();

// Weights [Cout, C, 3, 3] packed for the forward kernel: blocks of 4 output channels, within a
// block [C][9][4]. transpose_flip packs the dx weights instead (Cout and C swap roles).
std::vector<float> conv3x3_pack(const float* w, int64_t Cout, int64_t C, bool transpose_flip);

// One image: out [Cout, Ho, Wo] = conv(x [C, H, W]) + bias (bias may be null), padding 1,
// stride 1 (Ho = H) or 2 (Ho = (H - 1)/2 + 1).
void conv3x3_forward(const float* x, const float* packed, const float* bias, int64_t C, int64_t Cout, int64_t H,
                     int64_t W, int64_t stride, float* out);

// One image's backward from gout [Cout, H, W]: dx [C, H, W] (overwritten; null to skip) with
// packed_t = conv3x3_pack(w, Cout, C, true), and the weight gradient accumulated into dw9
// [9][Cout][C] (tap k = kh*3 + kw first; null to skip, x may then be null).
void conv3x3_backward(const float* x, const float* gout, const float* packed_t, int64_t C, int64_t Cout, int64_t H,
                      int64_t W, float* dx, float* dw9);

}  // namespace norma
