#include "core/random.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace norma {
namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// Box-Muller in double on two 64-bit draws: u1 in (0, 1] so log(u1) is finite.
//   r = sqrt(-2 log u1);  z0 = r cos(2 pi u2),  z1 = r sin(2 pi u2)
void box_muller(uint64_t bits1, uint64_t bits2, float& z0, float& z1) {
  double u1 = (double(bits1 >> 11) + 1.0) * (1.0 / 9007199254740992.0);
  double u2 = double(bits2 >> 11) * (1.0 / 9007199254740992.0);
  double r = std::sqrt(-2.0 * std::log(u1));
  z0 = float(r * std::cos(2.0 * M_PI * u2));
  z1 = float(r * std::sin(2.0 * M_PI * u2));
}
}  // namespace

void Generator::seed_(uint64_t seed) {
  for (auto& s : s_) s = splitmix64(seed);
  has_spare_ = false;
}

uint64_t Generator::next_u64() {
  uint64_t result = rotl(s_[1] * 5, 7) * 9;
  uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

float Generator::uniform() { return float(next_u64() >> 40) * (1.0f / 16777216.0f); }

float Generator::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  // The pair's second value is kept for the next call. The draws are named so their order is
  // fixed (the order in which function arguments are evaluated is not).
  const uint64_t bits1 = next_u64(), bits2 = next_u64();
  float z0;
  box_muller(bits1, bits2, z0, spare_);
  has_spare_ = true;
  return z0;
}

void Generator::fill_normal(float* out, int64_t n) {
  int64_t i = 0;
  if (n > 0 && has_spare_) {
    out[i++] = spare_;
    has_spare_ = false;
  }
  // Chunks of pairs: the draws for a chunk (serial: they are the stream) into a buffer, then its
  // transforms (log, sqrt, sin, cos in double) over the threads. Each pair k writes z0 to
  // out[i + 2k] and z1 to out[i + 2k + 1]; an odd tail's z1 becomes the spare, as in normal().
  // The buffer is kept per thread across calls: a noisy training step calls this several times
  // on millions of elements, and a fresh 512 KiB buffer each time would be page-faulted in again.
  constexpr int64_t kChunkPairs = int64_t(1) << 15;
  thread_local std::vector<uint64_t> buffer;
  buffer.resize(size_t(2 * std::min(kChunkPairs, (n - i + 1) / 2)));
  uint64_t* const bits = buffer.data();  // the calling thread's buffer, read by all the threads
  while (i < n) {
    const int64_t pairs = std::min(kChunkPairs, (n - i + 1) / 2);
    for (int64_t k = 0; k < 2 * pairs; ++k) bits[k] = next_u64();
    float last_z1 = 0.f;
#pragma omp parallel for schedule(static) if (pairs >= 4096)
    for (int64_t k = 0; k < pairs; ++k) {
      float z0, z1;
      box_muller(bits[2 * k], bits[2 * k + 1], z0, z1);
      const int64_t j = i + 2 * k;
      out[j] = z0;
      if (j + 1 < n) out[j + 1] = z1;
      else last_z1 = z1;  // only the last pair of an odd tail
    }
    if (i + 2 * pairs > n) {
      spare_ = last_z1;
      has_spare_ = true;
    }
    i += 2 * pairs;
  }
}

uint64_t Generator::randint(uint64_t n) {
  // Rejection sampling removes modulo bias.
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = next_u64();
  while (x >= limit);
  return x % n;
}

Generator& default_generator() {
  static Generator gen;
  return gen;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

}  // namespace norma
