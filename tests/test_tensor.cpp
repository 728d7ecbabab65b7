// Tensor basics: factories, random factories (reproducibility and moments), views and
// contiguity, element access, printing, the storage cache and the thread count.
#include <doctest/doctest.h>

#include <cmath>
#include <sstream>
#include <string>

#include "core/norma.h"

using namespace norma;

namespace {
std::vector<float> values(const Tensor& t) { return t.to_vector(); }

struct Moments {
  double mean, std;
};
Moments moments(const Tensor& t) {
  double s = 0, s2 = 0;
  std::vector<float> v = t.to_vector();
  for (float x : v) s += x, s2 += double(x) * x;
  double n = double(v.size()), mean = s / n;
  return {mean, std::sqrt(s2 / n - mean * mean)};
}
}  // namespace

TEST_CASE("tensor: constant factories") {
  Tensor z = zeros({2, 3});
  CHECK(z.shape() == Shape{2, 3});
  CHECK(z.strides() == Shape{3, 1});
  CHECK(z.numel() == 6);
  CHECK(z.dim() == 2);
  CHECK(z.size(-1) == 3);
  CHECK(values(z) == std::vector<float>(6, 0.f));
  CHECK(values(ones({4})) == std::vector<float>(4, 1.f));
  CHECK(values(full({2, 2}, -2.5f)) == std::vector<float>(4, -2.5f));
  CHECK(values(zeros_like(z)) == std::vector<float>(6, 0.f));
  CHECK(ones_like(z).shape() == Shape{2, 3});
  Tensor s = scalar_tensor(3.f);
  CHECK(s.dim() == 0);
  CHECK(s.numel() == 1);
  CHECK(s.item() == 3.f);
  CHECK(zeros({0, 3}).numel() == 0);
  CHECK_FALSE(z.requires_grad());
  CHECK(z.is_leaf());
  CHECK_THROWS_WITH_AS(zeros({2, -1}), doctest::Contains("empty: negative size in shape [2, -1]"), norma::Error);
  CHECK_THROWS_WITH_AS(z.size(2), doctest::Contains("size: dim 2 out of range"), norma::Error);
}

TEST_CASE("tensor: arange") {
  CHECK(values(arange(4.f)) == std::vector<float>{0.f, 1.f, 2.f, 3.f});
  CHECK(values(arange(1.f, 2.f, 0.25f)) == std::vector<float>{1.f, 1.25f, 1.5f, 1.75f});
  CHECK(values(arange(5.f, 0.f, -2.f)) == std::vector<float>{5.f, 3.f, 1.f});
  CHECK(values(arange(0.f, -1.f, -0.5f)) == std::vector<float>{0.f, -0.5f});
  CHECK(arange(0.f, 3.f, 0.5f).numel() == 6);   // end excluded
  CHECK(arange(0.f, 2.5f, 1.f).numel() == 3);   // partial step included: 0, 1, 2
  CHECK(arange(3.f, 1.f).numel() == 0);          // wrong direction: empty
  CHECK(arange(1.f, 3.f, -1.f).numel() == 0);
  CHECK_THROWS_WITH_AS(arange(0.f, 1.f, 0.f), "arange: step must be non-zero", norma::Error);
}

TEST_CASE("tensor: from_vector") {
  Tensor t = from_vector({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, {2, 3});
  CHECK(t.at({0, 0}) == 1.f);
  CHECK(t.at({1, 2}) == 6.f);
  CHECK(t.at({1, 0}) == 4.f);
  CHECK(from_vector({7.f}, {}).item() == 7.f);
  CHECK_THROWS_WITH_AS(from_vector({1.f, 2.f, 3.f}, {2, 2}),
                       "from_vector: 3 values do not fill shape [2, 2] (4 elements)", norma::Error);
}

TEST_CASE("tensor: random factories are reproducible per seed") {
  const Shape s{64, 33};
  auto same = [&](auto make) {
    Generator a(42), b(42), c(43);
    Tensor x = make(&a), y = make(&b), z = make(&c);
    CHECK(equal(x, y));  // bit-identical
    CHECK_FALSE(equal(x, z));
  };
  same([&](Generator* g) { return rand(s, g); });
  same([&](Generator* g) { return randn(s, g); });
  same([&](Generator* g) { return uniform(s, -3.f, 5.f, g); });
  same([&](Generator* g) { return normal(s, 1.f, 2.f, g); });
  same([&](Generator* g) { return bernoulli(s, 0.5f, g); });
  // A generator continues its stream: two draws differ; manual_seed restarts it.
  Generator g(7);
  Tensor first = randn(s, &g), second = randn(s, &g);
  CHECK_FALSE(equal(first, second));
  g.manual_seed(7);
  CHECK(equal(randn(s, &g), first));
}

TEST_CASE("tensor: randn is the stream of normal() calls, at any thread count") {
  // randn transforms its draws in parallel chunks; the values, and the spare a Box-Muller pair
  // leaves for the next call, must be those of calling normal() once per element. The sizes
  // cover an odd and even tail, a spare carried in, and several chunks (2^15 pairs each).
  const int threads = get_num_threads();
  for (int t : {1, 2}) {
    set_num_threads(t);
    Generator a(11), b(11);
    for (int64_t n : {int64_t(1), int64_t(7), int64_t(8), int64_t(65536), int64_t(200001), int64_t(3)}) {
      const std::vector<float> got = randn({n}, &a).to_vector();
      std::vector<float> want(static_cast<size_t>(n));
      for (float& v : want) v = b.normal();
      CHECK_MESSAGE(got == want, "n = ", n, ", threads = ", t);
    }
    CHECK(a.normal() == b.normal());  // both generators end in the same state
  }
  set_num_threads(threads);
}

TEST_CASE("tensor: manual_seed reproduces the default generator") {
  manual_seed(123);
  Tensor a = randn({100});
  Tensor b = rand({10});
  manual_seed(123);
  CHECK(equal(randn({100}), a));
  CHECK(equal(rand({10}), b));
  manual_seed(124);
  CHECK_FALSE(equal(randn({100}), a));
}

TEST_CASE("tensor: random factories have the right moments") {
  Generator g(2024);
  const Shape s{100000};
  // Standard error of a mean over 1e5 draws is std / 316: bounds are ~10 standard errors.
  Moments n = moments(randn(s, &g));
  CHECK(std::fabs(n.mean) < 0.02);
  CHECK(n.std == doctest::Approx(1.0).epsilon(0.02));
  Moments u = moments(rand(s, &g));
  CHECK(u.mean == doctest::Approx(0.5).epsilon(0.02));
  CHECK(u.std == doctest::Approx(1.0 / std::sqrt(12.0)).epsilon(0.02));
  int64_t outside = 0;
  for (float v : values(rand(s, &g))) outside += !(v >= 0.f && v < 1.f);
  CHECK(outside == 0);
  Moments un = moments(uniform(s, -2.f, 6.f, &g));
  CHECK(un.mean == doctest::Approx(2.0).epsilon(0.02));
  CHECK(un.std == doctest::Approx(8.0 / std::sqrt(12.0)).epsilon(0.02));
  Moments no = moments(normal(s, 3.f, 0.5f, &g));
  CHECK(no.mean == doctest::Approx(3.0).epsilon(0.01));
  CHECK(no.std == doctest::Approx(0.5).epsilon(0.02));
  for (float p : {0.1f, 0.5f, 0.9f}) {
    Tensor b = bernoulli(s, p, &g);
    int64_t not01 = 0;
    for (float v : values(b)) not01 += !(v == 0.f || v == 1.f);
    CHECK(not01 == 0);
    CHECK(moments(b).mean == doctest::Approx(p).epsilon(0.05));
  }
  CHECK(moments(bernoulli(s, 0.f, &g)).mean == 0.0);
  CHECK(moments(bernoulli(s, 1.f, &g)).mean == 1.0);
  CHECK_THROWS_WITH_AS(bernoulli(s, 1.5f), doctest::Contains("bernoulli: p must be in [0, 1], got 1.5"), norma::Error);
  CHECK_THROWS_WITH_AS(normal(s, 0.f, -1.f), doctest::Contains("normal: std must be >= 0"), norma::Error);
  CHECK_THROWS_WITH_AS(uniform(s, 1.f, 0.f), doctest::Contains("uniform: low 1 > high 0"), norma::Error);
}

TEST_CASE("tensor: views share storage, contiguous copies only when needed") {
  Tensor x = arange(6.f);
  Tensor r = x.reshape({2, 3});
  CHECK(r.data() == x.data());  // a view of a contiguous tensor
  CHECK(r.is_contiguous());
  r.set({1, 0}, 30.f);
  CHECK(x.at({3}) == 30.f);

  Tensor t = r.t();  // [3, 2] with strides [1, 3]
  CHECK(t.shape() == Shape{3, 2});
  CHECK(t.strides() == Shape{1, 3});
  CHECK(t.data() == x.data());
  CHECK_FALSE(t.is_contiguous());
  CHECK(t.at({2, 1}) == 5.f);
  CHECK(t.at({0, 1}) == 30.f);
  CHECK(values(t) == std::vector<float>{0.f, 30.f, 1.f, 4.f, 2.f, 5.f});
  Tensor c = t.contiguous();
  CHECK(c.is_contiguous());
  CHECK(c.data() != x.data());  // copied
  CHECK(values(c) == values(t));
  CHECK(r.contiguous().data() == r.data());  // already contiguous: the same tensor
  Tensor tr = t.reshape({6});                 // reshape of a non-contiguous view copies
  CHECK(tr.data() != x.data());
  CHECK(values(tr) == std::vector<float>{0.f, 30.f, 1.f, 4.f, 2.f, 5.f});

  Tensor k = x.clone();
  CHECK(k.data() != x.data());
  CHECK(equal(k, x));
  // Size-1 dims may have any stride and still be contiguous.
  CHECK(x.reshape({1, 6}).transpose(0, 0).is_contiguous());
  CHECK(x.reshape({6, 1}).t().is_contiguous());
}

TEST_CASE("tensor: fill_ and copy_") {
  Tensor x = zeros({2, 3});
  x.fill_(2.f);
  CHECK(values(x) == std::vector<float>(6, 2.f));
  Tensor src = from_vector({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, {3, 2});
  x.copy_(src.t());
  CHECK(values(x) == std::vector<float>{1.f, 3.f, 5.f, 2.f, 4.f, 6.f});
  CHECK_THROWS_WITH_AS(x.copy_(src), "copy_: cannot copy a tensor of shape [3, 2] into one of shape [2, 3]",
                       norma::Error);
  // Overlapping source and destination in one buffer: copied through a temporary.
  Tensor y = from_vector({1.f, 2.f, 3.f, 4.f}, {2, 2});
  y.copy_(y.t());
  CHECK(values(y) == std::vector<float>{1.f, 3.f, 2.f, 4.f});
}

TEST_CASE("tensor: at, set and item") {
  Tensor x = zeros({2, 3});
  x.set({1, 2}, 5.f);
  CHECK(x.at({1, 2}) == 5.f);
  CHECK(values(x) == std::vector<float>{0.f, 0.f, 0.f, 0.f, 0.f, 5.f});
  CHECK_THROWS_WITH_AS(x.at({2, 0}), "at: index 2 out of range for dim 0 of shape [2, 3]", norma::Error);
  CHECK_THROWS_WITH_AS(x.at({0}), "at: 1 indices for a tensor of shape [2, 3]", norma::Error);
  CHECK_THROWS_WITH_AS(x.item(), "item: expected a tensor with one element, got shape [2, 3]", norma::Error);
  CHECK(full({1, 1}, 4.f).item() == 4.f);
  CHECK_THROWS_WITH_AS(Tensor().shape(), "Tensor: use of an undefined tensor", norma::Error);
}

TEST_CASE("tensor: printing") {
  Tensor x = from_vector({1.f, 2.5f, -3.f, 4.f}, {2, 2});
  std::string s = x.str();
  CHECK(s.find("shape=[2, 2]") != std::string::npos);
  CHECK(s.find("2.5") != std::string::npos);
  CHECK(s.find("-3") != std::string::npos);
  CHECK(s.find("...") == std::string::npos);
  CHECK(scalar_tensor(7.f).str().find("7") != std::string::npos);
  CHECK(Tensor().str() == "Tensor(undefined)");

  Tensor y = x.detach().requires_grad_();
  CHECK(y.str().find("requires_grad") != std::string::npos);
  CHECK((y * 2.f).str().find("grad_fn=mul_scalar") != std::string::npos);

  // Long dims are cut to their first and last items.
  Tensor big = arange(10000.f).reshape({100, 100});
  std::string b = big.str();
  CHECK(b.find("shape=[100, 100]") != std::string::npos);
  CHECK(b.find("...") != std::string::npos);
  CHECK(b.find("9999") != std::string::npos);    // last element shown
  CHECK(b.find("5050") == std::string::npos);    // a middle one is not
  CHECK(b.size() < 2000);
  std::ostringstream os;
  os << big;
  CHECK(os.str() == b);
}

TEST_CASE("tensor: the storage cache reuses freed buffers of the same size") {
  const int64_t n = 12345;  // an odd size other tests are unlikely to hold in the cache
  const float* first;
  size_t cached_before;
  {
    Tensor t = empty({n});
    first = t.data();
    cached_before = cached_bytes();
  }
  const size_t cached_after_free = cached_bytes();
  CHECK(cached_after_free >= cached_before + size_t(n) * sizeof(float));
  {
    Tensor t = empty({n});
    CHECK(t.data() == first);  // the same buffer back
    CHECK(cached_bytes() == cached_before);
  }
  empty_cache();
  CHECK(cached_bytes() == 0);
}

TEST_CASE("tensor: set_num_threads and get_num_threads") {
  const int original = get_num_threads();
  CHECK(original >= 1);
  set_num_threads(1);
  CHECK(get_num_threads() == 1);
  Generator g(5);
  Tensor a = randn({300, 200}, &g);  // above the parallel grain
  Tensor one = exp(a) * a + a;
  set_num_threads(2);
  CHECK(get_num_threads() == 2);
  CHECK(equal(exp(a) * a + a, one));  // elementwise results do not depend on the thread count
  CHECK_THROWS_WITH_AS(set_num_threads(0), "set_num_threads: expected at least 1 thread, got 0", norma::Error);
  set_num_threads(original);
  CHECK(get_num_threads() == original);
}
