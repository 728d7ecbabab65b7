// dropout: the mask depends only on the seed, the expectation is preserved, eval is the
// identity, and the gradient is dout * mask / (1 - p).
#include <doctest/doctest.h>

#include "core/norma.h"
#include "gradcheck.h"

using namespace norma;
using namespace norma::testing;

TEST_CASE("dropout: same seed gives the same mask at any thread count") {
  Tensor x = ones({300, 200});  // big enough for the multiply to run on threads
  int threads = get_num_threads();
  Generator g1(42), g2(42), g3(43);
  set_num_threads(1);
  Tensor a = dropout(x, 0.3f, true, &g1);
  set_num_threads(2);
  Tensor b = dropout(x, 0.3f, true, &g2);
  set_num_threads(threads);
  CHECK(equal(a, b));
  CHECK_FALSE(equal(a, dropout(x, 0.3f, true, &g3)));
  // The default generator follows manual_seed.
  manual_seed(7);
  Tensor c = dropout(x, 0.3f);
  manual_seed(7);
  CHECK(equal(c, dropout(x, 0.3f)));
}

TEST_CASE("dropout: expectation is preserved") {
  Generator gen(1);
  Tensor x = full({200000}, 2.f);
  const float p = 0.3f;
  std::vector<float> v = dropout(x, p, true, &gen).to_vector();
  double sum = 0;
  int64_t zeros_seen = 0, wrong = 0;
  for (float e : v) {
    sum += e;
    zeros_seen += e == 0.f;
    wrong += e != 0.f && e != 2.f * (1.f / (1.f - p));  // kept values are scaled by 1/(1-p)
  }
  CHECK(wrong == 0);
  // mean ~ 2 (std of the mean ~ 2 * sqrt(p / (1-p) / n) ~ 0.003) and ~30% zeros.
  CHECK(sum / double(v.size()) == doctest::Approx(2.0).epsilon(0.01));
  CHECK(double(zeros_seen) / double(v.size()) == doctest::Approx(p).epsilon(0.02));
}

TEST_CASE("dropout: eval and p = 0 are the identity, p = 1 gives zeros") {
  Tensor x = leaf({4, 5}, 1);
  CHECK(dropout(x, 0.5f, false).impl_ptr() == x.impl_ptr());
  CHECK(dropout(x, 0.f, true).impl_ptr() == x.impl_ptr());
  Tensor z = dropout(x, 1.f, true);
  CHECK(equal(z, zeros({4, 5})));
  z.sum().backward();
  CHECK(equal(x.grad(), zeros({4, 5})));
}

TEST_CASE("dropout: p outside [0, 1] is an error") {
  Tensor x = ones({3});
  CHECK_THROWS_WITH_AS(dropout(x, 1.5f), doctest::Contains("dropout: p must be in [0, 1], got 1.5"), Error);
  CHECK_THROWS_WITH_AS(dropout(x, -0.1f), doctest::Contains("dropout: p must be in [0, 1]"), Error);
}

TEST_CASE("gradcheck: dropout") {
  // The gradient is dout * mask / (1 - p); the mask is read off the output (x has no zeros).
  const float p = 0.4f;
  Tensor x = leaf_away_from({6, 7}, {0.f});
  Generator gen(3), gr(4);
  Tensor out = dropout(x, p, true, &gen);
  Tensor g = randn({6, 7}, &gr);
  out.backward(g);
  std::vector<float> o = out.to_vector(), gv = g.to_vector(), dx = x.grad().to_vector();
  int kept = 0;
  for (size_t i = 0; i < o.size(); ++i) {
    const float expect = o[i] != 0.f ? gv[i] / (1.f - p) : 0.f;
    CHECK(dx[i] == doctest::Approx(expect));
    kept += o[i] != 0.f;
  }
  CHECK(kept > 0);
  CHECK(kept < int(o.size()));
  // Finite differences, with the same mask every call (a fresh generator of the same seed).
  GRADCHECK(
      [p](const std::vector<Tensor>& in) {
        Generator same(3);
        return dropout(in[0], p, true, &same);
      },
      {leaf({6, 7}, 2)});
}
