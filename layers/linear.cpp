#include "layers/linear.h"

#include <cmath>

#include "core/ops/elementwise.h"
#include "core/ops/matmul.h"
#include "core/ops/shape_ops.h"
#include "layers/init.h"

namespace norma::nn {

Linear::Linear(int64_t in, int64_t out, bool bias) : Module("Linear"), in_features(in), out_features(out) {
  NORMA_CHECK(in > 0 && out > 0, "Linear: features must be positive, got in=", in, " out=", out);
  Tensor& w = register_parameter("weight", empty({out, in}));
  init::kaiming_uniform_(w, std::sqrt(5.f));
  if (bias) {
    Tensor& b = register_parameter("bias", empty({out}));
    float bound = 1.f / std::sqrt(float(in));
    init::uniform_(b, -bound, bound);
  }
}

// y[n, o] = sum_i x[n, i] W[o, i] + b[o]  (matmul with W's transposed view: no copy)
Tensor Linear::forward(const Tensor& x) {
  NORMA_CHECK(x.dim() >= 1 && x.shape().back() == in_features, "Linear: expected input [..., ", in_features,
              "], got ", x.shape());
  Tensor x2 = x.dim() == 2 ? x : reshape(x, {-1, in_features});
  Tensor y = matmul(x2, param("weight").t());
  if (has_param("bias")) y = y + param("bias");
  if (x.dim() == 2) return y;
  Shape out_shape = x.shape();
  out_shape.back() = out_features;
  return reshape(y, out_shape);
}

std::string Linear::extra_repr() const {
  return "in_features=" + std::to_string(in_features) + ", out_features=" + std::to_string(out_features) +
         ", bias=" + (has_param("bias") ? "true" : "false");
}

}  // namespace norma::nn
