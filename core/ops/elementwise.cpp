// Binary elementwise ops. Each forward is one map over the broadcast shape; each backward
// computes the gradient at full (broadcast) shape, then sum_to() folds it back to the input's.
#include "core/ops/elementwise.h"

#include <cmath>

#include "core/autograd.h"
#include "core/kernels/broadcast.h"
#include "core/ops/reduce.h"

namespace norma {

// out = a + b;  da = g, db = g
Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = map_binary(a, b, "add", [](float x, float y) { return x + y; });
  return record("add", out, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) -> std::vector<Tensor> {
    return {sum_to(g, sa), sum_to(g, sb)};
  });
}

// out = a - b;  da = g, db = -g
Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = map_binary(a, b, "sub", [](float x, float y) { return x - y; });
  return record("sub", out, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) -> std::vector<Tensor> {
    return {sum_to(g, sa), sum_to(mul(g, -1.f), sb)};
  });
}

// out = a * b;  da = g * b, db = g * a
Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = map_binary(a, b, "mul", [](float x, float y) { return x * y; });
  return record("mul", out, {a, b}, [a, b](const Tensor& g) -> std::vector<Tensor> {
    return {needs_grad(a) ? sum_to(mul(g, b), a.shape()) : Tensor(),
            needs_grad(b) ? sum_to(mul(g, a), b.shape()) : Tensor()};
  });
}

// out = a / b;  da = g / b, db = -g * a / b^2
Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = map_binary(a, b, "div", [](float x, float y) { return x / y; });
  return record("div", out, {a, b}, [a, b](const Tensor& g) -> std::vector<Tensor> {
    Shape sh = broadcast_shapes(a.shape(), b.shape(), "div");
    Tensor da, db;
    if (needs_grad(a)) da = sum_to(div(g, b), a.shape());
    if (needs_grad(b))
      db = sum_to(map_broadcast<3>(sh, {&g, &a, &b}, [](float g, float x, float y) { return -g * x / (y * y); }),
                  b.shape());
    return {da, db};
  });
}

// out = a^b;  da = g * b * a^(b-1), db = g * a^b * log(a)
Tensor pow(const Tensor& a, const Tensor& b) {
  Tensor out = map_binary(a, b, "pow", [](float x, float y) { return std::pow(x, y); });
  return record("pow", out, {a, b}, [a, b](const Tensor& g) -> std::vector<Tensor> {
    Shape sh = broadcast_shapes(a.shape(), b.shape(), "pow");
    Tensor da, db;
    if (needs_grad(a))
      da = sum_to(map_broadcast<3>(sh, {&g, &a, &b},
                                   [](float g, float x, float y) { return y == 0.f ? 0.f : g * y * std::pow(x, y - 1.f); }),
                  a.shape());
    if (needs_grad(b))
      db = sum_to(map_broadcast<3>(sh, {&g, &a, &b},
                                   [](float g, float x, float y) { return x == 0.f ? 0.f : g * std::pow(x, y) * std::log(x); }),
                  b.shape());
    return {da, db};
  });
}

namespace {
// maximum/minimum: the gradient goes to the winner; on a tie each side gets half (PyTorch).
Tensor extremum(const Tensor& a, const Tensor& b, const char* name, bool is_max) {
  Tensor out = map_binary(a, b, name, [is_max](float x, float y) { return is_max ? std::max(x, y) : std::min(x, y); });
  return record(name, out, {a, b}, [a, b, is_max, name](const Tensor& g) -> std::vector<Tensor> {
    Shape sh = broadcast_shapes(a.shape(), b.shape(), name);
    auto share = [is_max](float g, float mine, float other) {
      if (mine == other) return 0.5f * g;
      return (is_max ? mine > other : mine < other) ? g : 0.f;
    };
    Tensor da, db;
    if (needs_grad(a)) da = sum_to(map_broadcast<3>(sh, {&g, &a, &b}, share), a.shape());
    if (needs_grad(b)) db = sum_to(map_broadcast<3>(sh, {&g, &b, &a}, share), b.shape());
    return {da, db};
  });
}
}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b) { return extremum(a, b, "maximum", true); }
Tensor minimum(const Tensor& a, const Tensor& b) { return extremum(a, b, "minimum", false); }

// ---- Scalar forms: no broadcasting, the scalar is a constant ---------------------------------
Tensor add(const Tensor& a, float s) {
  Tensor out = map_unary(a, [s](float x) { return x + s; });
  return record("add_scalar", out, {a}, [](const Tensor& g) -> std::vector<Tensor> { return {g}; });
}
Tensor sub(const Tensor& a, float s) { return add(a, -s); }

Tensor rsub(float s, const Tensor& a) {
  Tensor out = map_unary(a, [s](float x) { return s - x; });
  return record("rsub_scalar", out, {a}, [](const Tensor& g) -> std::vector<Tensor> { return {mul(g, -1.f)}; });
}

Tensor mul(const Tensor& a, float s) {
  Tensor out = map_unary(a, [s](float x) { return x * s; });
  return record("mul_scalar", out, {a}, [s](const Tensor& g) -> std::vector<Tensor> { return {mul(g, s)}; });
}
Tensor div(const Tensor& a, float s) { return mul(a, 1.f / s); }

// out = s / a;  da = -g * s / a^2
Tensor rdiv(float s, const Tensor& a) {
  Tensor out = map_unary(a, [s](float x) { return s / x; });
  return record("rdiv_scalar", out, {a}, [a, s](const Tensor& g) -> std::vector<Tensor> {
    return {map_binary(g, a, "rdiv_scalar", [s](float g, float x) { return -g * s / (x * x); })};
  });
}

// out = a^e;  da = g * e * a^(e-1)
Tensor pow(const Tensor& a, float e) {
  Tensor out = map_unary(a, [e](float x) { return std::pow(x, e); });
  return record("pow_scalar", out, {a}, [a, e](const Tensor& g) -> std::vector<Tensor> {
    return {map_binary(g, a, "pow_scalar", [e](float g, float x) { return e == 0.f ? 0.f : g * e * std::pow(x, e - 1.f); })};
  });
}

// ---- Comparisons ---------------------------------------------------------------------------
#define NORMA_COMPARISON(name, expr)                                                          \
  Tensor name(const Tensor& a, const Tensor& b) {                                            \
    return map_binary(a, b, #name, [](float x, float y) { return (expr) ? 1.f : 0.f; });     \
  }                                                                                           \
  Tensor name(const Tensor& a, float s) {                                                    \
    return map_unary(a, [s](float x) { float y = s; return (expr) ? 1.f : 0.f; });           \
  }
NORMA_COMPARISON(eq, x == y)
NORMA_COMPARISON(ne, x != y)
NORMA_COMPARISON(lt, x < y)
NORMA_COMPARISON(le, x <= y)
NORMA_COMPARISON(gt, x > y)
NORMA_COMPARISON(ge, x >= y)
#undef NORMA_COMPARISON

}  // namespace norma
