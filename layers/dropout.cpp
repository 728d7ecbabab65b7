#include "layers/dropout.h"

#include "core/ops/dropout.h"

namespace norma::nn {

Dropout::Dropout(float p_) : Module("Dropout"), p(p_) {
  NORMA_CHECK(p >= 0.f && p <= 1.f, "Dropout: p must be in [0, 1], got ", p);
}
Tensor Dropout::forward(const Tensor& x) { return dropout(x, p, is_training()); }
std::string Dropout::extra_repr() const { return "p=" + std::to_string(p); }

}  // namespace norma::nn
