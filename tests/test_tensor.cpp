#include <doctest/doctest.h>
#include "core/norma.h"
using namespace norma;
TEST_CASE("tensor: factories") {
  Tensor z = zeros({2, 3});
  CHECK(z.numel() == 6);
  CHECK(z.at({1, 2}) == 0.f);
}
