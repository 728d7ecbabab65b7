// The deterministic fill of tests/fixtures/gen_models.py, so that a norma model and its PyTorch
// twin hold the same values without storing them: u_k in [-1, 1) from an integer hash (exact
// in both languages), then per state_dict entry (salt = its index):
//   running_var        0.5 + 0.5 (u + 1)
//   weights of rank>=2 u * sqrt(6 / fan_in)
//   other `*weight`    1 + 0.2 u    (norm scales)
//   the rest           0.2 u        (biases, running means)
// Every step is computed in double and rounded to float once, as torch.tensor(list) does.
#pragma once
#include <cmath>
#include <string>
#include <vector>

#include "core/norma.h"
#include "layers/module.h"

namespace norma::testing {

inline std::vector<double> det_u(int64_t n, uint64_t salt) {
  std::vector<double> u(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) {
    uint64_t h = (uint64_t(k) * 2654435761ull + salt * 40503ull + 12345ull) % 4294967296ull;
    u[size_t(k)] = double(h) / 4294967296.0 * 2.0 - 1.0;
  }
  return u;
}

inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

inline void det_fill(nn::Module& m) {
  uint64_t salt = 0;
  for (auto& [key, t] : m.state_dict()) {
    if (ends_with(key, "num_batches_tracked")) {
      ++salt;
      continue;
    }
    std::vector<double> u = det_u(t.numel(), salt++);
    std::vector<float> v(u.size());
    for (size_t i = 0; i < u.size(); ++i) {
      if (ends_with(key, "running_var")) v[i] = float(0.5 + 0.5 * (u[i] + 1.0));
      else if (t.dim() >= 2) v[i] = float(u[i] * std::sqrt(6.0 / double(t.numel() / t.size(0))));
      else if (ends_with(key, "weight")) v[i] = float(1.0 + 0.2 * u[i]);
      else v[i] = float(0.2 * u[i]);
    }
    Tensor dst = t;
    dst.copy_(from_vector(v, t.shape()));
  }
}

// The fixtures' input: u values (salt 999) of this shape.
inline Tensor det_input(const Shape& shape) {
  std::vector<double> u = det_u(shape_numel(shape), 999);
  return from_vector(std::vector<float>(u.begin(), u.end()), shape);
}

}  // namespace norma::testing
