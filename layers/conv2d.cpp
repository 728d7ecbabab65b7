#include "layers/conv2d.h"

#include <cmath>

#include "layers/init.h"

namespace norma::nn {

Conv2d::Conv2d(int64_t in, int64_t out, IntPair k, IntPair s, IntPair p, IntPair d, int64_t g, bool bias)
    : Module("Conv2d"), in_channels(in), out_channels(out), kernel_size(k), stride(s), padding(p), dilation(d), groups(g) {
  NORMA_CHECK(in > 0 && out > 0 && g > 0 && in % g == 0 && out % g == 0, "Conv2d: channels in=", in, " out=", out,
              " must be positive and divisible by groups=", g);
  Tensor& w = register_parameter("weight", empty({out, in / g, k.h, k.w}));
  init::kaiming_uniform_(w, std::sqrt(5.f));
  if (bias) {
    // Read w before registering the bias: registration may move the registry (w would dangle).
    const float bound = 1.f / std::sqrt(float(init::fan_in(w)));
    Tensor& b = register_parameter("bias", empty({out}));
    init::uniform_(b, -bound, bound);
  }
}

Tensor Conv2d::forward(const Tensor& x) {
  return conv2d(x, param("weight"), has_param("bias") ? param("bias") : Tensor(), stride, padding, dilation, groups);
}

std::string Conv2d::extra_repr() const {
  auto pair = [](IntPair p) { return "(" + std::to_string(p.h) + ", " + std::to_string(p.w) + ")"; };
  std::string s = std::to_string(in_channels) + ", " + std::to_string(out_channels) + ", kernel_size=" + pair(kernel_size) +
                  ", stride=" + pair(stride);
  if (!(padding == IntPair(0))) s += ", padding=" + pair(padding);
  if (!(dilation == IntPair(1))) s += ", dilation=" + pair(dilation);
  if (groups != 1) s += ", groups=" + std::to_string(groups);
  if (!has_param("bias")) s += ", bias=false";
  return s;
}

}  // namespace norma::nn
