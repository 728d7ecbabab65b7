// Helpers for tests that compare what two runs saved.
#pragma once
#include <doctest/doctest.h>

#include <string>

#include "layers/checkpoint.h"

namespace norma_test {

// The safetensors files a and b hold the same tensors, by name and order, bit for bit.
inline void check_same_tensors(const std::string& a, const std::string& b) {
  norma::nn::StateDict sa = norma::nn::load_safetensors(a), sb = norma::nn::load_safetensors(b);
  REQUIRE(sa.size() == sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    CAPTURE(sa[i].first);
    REQUIRE(sa[i].first == sb[i].first);
    CHECK(sa[i].second.to_vector() == sb[i].second.to_vector());
  }
}

}  // namespace norma_test
