#include "core/kernels/broadcast.h"

namespace norma {

Shape broadcast_strides(const Tensor& t, const Shape& out) {
  const size_t nd = out.size(), td = t.shape().size();
  Shape st(nd, 0);
  for (size_t i = 0; i < td; ++i) {
    size_t d = nd - td + i;
    st[d] = t.shape()[i] == 1 && out[d] != 1 ? 0 : t.strides()[i];
  }
  return st;
}

}  // namespace norma
