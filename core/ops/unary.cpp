// Unary elementwise ops. Each forward is one map over x; each backward is one fused map over
// the upstream gradient g and what the forward saved (x, or out when the derivative is
// cheaper in terms of the output, as for exp, sigmoid, tanh). Derivatives at kinks follow
// PyTorch: abs'(0) = 0, relu'(0) = 0, leaky_relu'(0) = slope, clamp passes g on [min, max].
#include "core/ops/unary.h"

#include <cmath>

#include "core/autograd.h"
#include "core/kernels/broadcast.h"

namespace norma {

namespace {
// The backward closure of an op whose derivative is a function of (g, saved):
// dx = grad(g, saved), computed in one pass.
template <typename F>
BackwardFn fused_backward(const char* name, Tensor saved, F grad) {
  return [name, saved = std::move(saved), grad](const Tensor& g) -> std::vector<Tensor> {
    return {map_binary(g, saved, name, grad)};
  };
}
}  // namespace

// out = -x;  dx = -g
Tensor neg(const Tensor& x) {
  Tensor out = map_unary(x, [](float v) { return -v; });
  return record("neg", out, {x}, [](const Tensor& g) -> std::vector<Tensor> {
    return {map_unary(g, [](float gv) { return -gv; })};
  });
}

// out = |x|;  dx = g * sign(x)   (sign(0) = 0)
Tensor abs(const Tensor& x) {
  Tensor out = map_unary(x, [](float v) { return std::fabs(v); });
  return record("abs", out, {x}, fused_backward("abs", x, [](float g, float v) {
    return v > 0.f ? g : (v < 0.f ? -g : 0.f);
  }));
}

// out = e^x;  dx = g * out
Tensor exp(const Tensor& x) {
  Tensor out = map_unary(x, [](float v) { return std::exp(v); });
  return record("exp", out, {x}, fused_backward("exp", out.detach(), [](float g, float o) { return g * o; }));
}

// out = ln x;  dx = g / x
Tensor log(const Tensor& x) {
  Tensor out = map_unary(x, [](float v) { return std::log(v); });
  return record("log", out, {x}, fused_backward("log", x, [](float g, float v) { return g / v; }));
}

// out = sqrt(x);  dx = g / (2 out)
Tensor sqrt(const Tensor& x) {
  Tensor out = map_unary(x, [](float v) { return std::sqrt(v); });
  return record("sqrt", out, {x}, fused_backward("sqrt", out.detach(), [](float g, float o) {
    return g / (2.f * o);
  }));
}

// out = x^(-1/2);  dx = -g x^(-3/2) / 2 = -0.5 g out^3
Tensor rsqrt(const Tensor& x) {
  Tensor out = map_unary(x, [](float v) { return 1.f / std::sqrt(v); });
  return record("rsqrt", out, {x}, fused_backward("rsqrt", out.detach(), [](float g, float o) {
    return -0.5f * g * o * o * o;
  }));
}

// out = x^2;  dx = 2 g x
Tensor square(const Tensor& x) {
  Tensor out = map_unary(x, [](float v) { return v * v; });
  return record("square", out, {x}, fused_backward("square", x, [](float g, float v) { return 2.f * g * v; }));
}

// out = 1 / (1 + e^-x);  dx = g * out * (1 - out)
// Only e^-|x| is ever computed (in (0, 1]), so no overflow for large |x|:
// x >= 0: 1 / (1 + e^-x);  x < 0: e^x / (1 + e^x).
Tensor sigmoid(const Tensor& x) {
  Tensor out = map_unary(x, [](float v) {
    float z = std::exp(-std::fabs(v));
    return v >= 0.f ? 1.f / (1.f + z) : z / (1.f + z);
  });
  return record("sigmoid", out, {x}, fused_backward("sigmoid", out.detach(), [](float g, float o) {
    return g * o * (1.f - o);
  }));
}

// out = tanh(x);  dx = g * (1 - out^2)
Tensor tanh(const Tensor& x) {
  Tensor out = map_unary(x, [](float v) { return std::tanh(v); });
  return record("tanh", out, {x}, fused_backward("tanh", out.detach(), [](float g, float o) {
    return g * (1.f - o * o);
  }));
}

// out = max(x, 0);  dx = g where out > 0 (equivalently x > 0), else 0
// NaN stays NaN, as in PyTorch: a relu that turned NaN into 0 would hide a diverged layer.
Tensor relu(const Tensor& x) {
  Tensor out = map_unary(x, [](float v) { return v > 0.f || v != v ? v : 0.f; });
  return record("relu", out, {x}, fused_backward("relu", out.detach(), [](float g, float o) {
    return o > 0.f ? g : 0.f;
  }));
}

// out = x > 0 ? x : slope * x;  dx = x > 0 ? g : slope * g
Tensor leaky_relu(const Tensor& x, float negative_slope) {
  Tensor out = map_unary(x, [negative_slope](float v) { return v > 0.f ? v : negative_slope * v; });
  return record("leaky_relu", out, {x}, fused_backward("leaky_relu", x, [negative_slope](float g, float v) {
    return v > 0.f ? g : negative_slope * g;
  }));
}

// out = x * Phi(x), Phi(x) = erfc(-x / sqrt 2) / 2 (the normal CDF);
// dx = g * (Phi(x) + x * phi(x)), phi(x) = e^(-x^2/2) / sqrt(2 pi).
// erfc keeps Phi accurate in the left tail, where 1 + erf(x / sqrt 2) would cancel.
Tensor gelu(const Tensor& x) {
  constexpr float kSqrtHalf = 0.70710678118654752f, kInvSqrt2Pi = 0.39894228040143268f;
  Tensor out = map_unary(x, [](float v) { return v * 0.5f * std::erfc(-v * kSqrtHalf); });
  return record("gelu", out, {x}, fused_backward("gelu", x, [](float g, float v) {
    float cdf = 0.5f * std::erfc(-v * kSqrtHalf);
    float pdf = kInvSqrt2Pi * std::exp(-0.5f * v * v);
    return g * (cdf + v * pdf);
  }));
}

// out = min(max(x, lo), hi);  dx = g where lo <= x <= hi, else 0
Tensor clamp(const Tensor& x, float min, float max) {
  NORMA_CHECK(!(min > max), "clamp: min ", min, " is greater than max ", max);
  Tensor out = map_unary(x, [min, max](float v) { return v < min ? min : (v > max ? max : v); });
  return record("clamp", out, {x}, fused_backward("clamp", x, [min, max](float g, float v) {
    return v >= min && v <= max ? g : 0.f;
  }));
}

}  // namespace norma
