// Direct 3x3 convolution, stride 1, padding 1, no dilation, one group: the shape of nearly
// every conv in resnet20 and lenet. No im2col: the kernels read a zero-padded copy of the
// image in place.
//
// The trick that makes every width vectorize the same way: with the image padded to
// [C, H+2, W2 = W+2] and flattened per channel, the output at (oh, ow) sits at q = oh*W2 + ow
// of a flat "padded-width" grid, and
//
//   out[co][q] = sum_{ci, kh, kw} w[co][ci][kh][kw] * xpad[ci][q + kh*W2 + kw]
//
// is a 1-D convolution over q: 16 consecutive q are two AVX2 vectors whatever W is. The two
// columns q with ow in {W, W+1} are computed and dropped (6% extra work at W = 32, 25% at 8).
//
// The input gradient is the same kernel run on the zero-padded output gradient with the
// weights flipped (kh, kw -> 2-kh, 2-kw) and transposed (ci <-> co):
//
//   dx[ci][q] = sum_{co, kh, kw} w[co][ci][2-kh][2-kw] * dout_pad[co][q + kh*W2 + kw]
//
// and the weight gradient is, for each tap k = kh*3 + kw,
//
//   dw[:, :, k] += dout_pad[:, W2+1 : W2+1+Qr] @ (xpad[:, off_k : off_k+Qr])^T,  off_k = kh*W2 + kw
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

// Weights [Cout, C, 3, 3] packed for the forward kernel: blocks of 6 output channels, within a
// block [C][9][6]. transpose_flip packs the dx weights instead (Cout and C swap roles).
std::vector<float> conv3x3_pack(const float* w, int64_t Cout, int64_t C, bool transpose_flip);

// One image: out [Cout, H, W] = conv(x [C, H, W]) + bias (bias may be null).
void conv3x3_forward(const float* x, const float* packed, const float* bias, int64_t C, int64_t Cout, int64_t H,
                     int64_t W, float* out);

// One image's backward from gout [Cout, H, W]: dx [C, H, W] (overwritten; null to skip) with
// packed_t = conv3x3_pack(w, Cout, C, true), and the weight gradient accumulated into dw9
// [9][Cout][C] (tap k = kh*3 + kw first; null to skip, x may then be null).
void conv3x3_backward(const float* x, const float* gout, const float* packed_t, int64_t C, int64_t Cout, int64_t H,
                      int64_t W, float* dx, float* dw9);

}  // namespace norma
