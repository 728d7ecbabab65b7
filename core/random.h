// Seeded random numbers: one global generator (manual_seed) plus explicit Generators.
//
// The generator is xoshiro256** seeded through splitmix64; floats are drawn sequentially on
// one thread, so the same seed gives bit-identical tensors whatever the thread count.
#pragma once
#include <cstdint>

namespace norma {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0x5eed) { seed_(seed); }
  void manual_seed(uint64_t seed) { seed_(seed); }

  uint64_t next_u64();
  // Uniform in [0, 1) with 24 random bits (every float in the grid equally likely).
  float uniform();
  // Standard normal (Box-Muller; the second value of each pair is kept for the next call).
  float normal();
  // out[0..n) = the next n values of normal(), bit for bit, and the spare left as normal()
  // would leave it. The bits are drawn in order; the Box-Muller transforms, which are the
  // cost, run in parallel.
  void fill_normal(float* out, int64_t n);
  // Uniform integer in [0, n).
  uint64_t randint(uint64_t n);

 private:
  void seed_(uint64_t seed);
  uint64_t s_[4];
  bool has_spare_ = false;
  float spare_ = 0.f;
};

// The generator that factories and dropout use when none is passed.
Generator& default_generator();
// Seeds the default generator (like torch::manual_seed).
void manual_seed(uint64_t seed);

}  // namespace norma
