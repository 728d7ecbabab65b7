// Inverted dropout. The mask is drawn on one thread, element by element from the generator,
// so a seed gives the same mask whatever the thread count; it is stored already scaled:
//   mask[i] = (u_i >= p) / (1 - p),  u_i ~ U[0, 1)
//   out = x * mask;  dx = dout * mask
#include "core/ops/dropout.h"

#include "core/autograd.h"
#include "core/kernels/broadcast.h"

namespace norma {

Tensor dropout(const Tensor& x, float p, bool training, Generator* gen) {
  NORMA_CHECK(p >= 0.f && p <= 1.f, "dropout: p must be in [0, 1], got ", p);
  if (!training || p == 0.f) return x;
  if (p == 1.f) {  // everything dropped (1/(1-p) would be inf): zeros, zero gradient
    Tensor out = zeros(x.shape());
    return record("dropout", out, {x}, [xs = x.shape()](const Tensor&) -> std::vector<Tensor> { return {zeros(xs)}; });
  }
  Generator& g = gen ? *gen : default_generator();
  Tensor mask = empty(x.shape());
  const float scale = 1.f / (1.f - p);
  float* m = mask.data();
  for (int64_t i = 0, n = mask.numel(); i < n; ++i) m[i] = g.uniform() >= p ? scale : 0.f;
  Tensor out = map_binary(x, mask, "dropout", [](float v, float k) { return v * k; });
  return record("dropout", out, {x}, [mask](const Tensor& gout) -> std::vector<Tensor> {
    return {map_binary(gout, mask, "dropout", [](float d, float k) { return d * k; })};
  });
}

}  // namespace norma
