#include "data/spirals.h"

#include <cmath>

#include "core/error.h"
#include "core/random.h"

namespace norma::data {

Spirals make_spirals(int64_t n_per_class, int64_t classes, float noise, uint64_t seed) {
  NORMA_CHECK(n_per_class >= 1 && classes >= 1, "make_spirals: expected at least 1 point and 1 class, got ",
              n_per_class, " points per class and ", classes, " classes");
  NORMA_CHECK(noise >= 0.f, "make_spirals: noise must be >= 0, got ", noise);
  const double two_pi = 6.283185307179586;
  Generator gen(seed);
  Spirals s;
  s.features = empty({n_per_class * classes, 2});
  float* p = s.features.data();
  for (int64_t c = 0; c < classes; ++c) {
    for (int64_t i = 0; i < n_per_class; ++i) {
      const double r = n_per_class == 1 ? 1.0 : double(i) / double(n_per_class - 1);
      const double theta = two_pi * (double(c) / double(classes) + 1.5 * r) + double(noise) * double(gen.normal());
      *p++ = float(r * std::sin(theta));
      *p++ = float(r * std::cos(theta));
      s.labels.push_back(c);
    }
  }
  return s;
}

}  // namespace norma::data
