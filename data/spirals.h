// The two-spirals toy set (or K interleaved spirals): a classic that a linear model cannot
// separate but a small MLP can. Used by `norma demo` and the end-to-end test.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace norma::data {

struct Spirals {
  Tensor features;               // [N, 2] points, N = n_per_class * classes, |x| <= ~1
  std::vector<int64_t> labels;   // N class indices in [0, classes)
};

// Class c's arm: radius r from 0 to 1, angle theta = 2 pi (c / classes + 1.5 r) + noise * N(0, 1)
// (one and a half turns per arm; noise in radians), point (r sin theta, r cos theta). Points
// are listed class by class. Same seed, same points.
Spirals make_spirals(int64_t n_per_class, int64_t classes, float noise, uint64_t seed);

}  // namespace norma::data
