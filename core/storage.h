// Storage: one float32 buffer, shared by a tensor and all its views.
//
// Buffers come from a caching allocator: a freed buffer is kept on a free list of its exact
// size and handed to the next request of that size. Training repeats the same shapes every
// step, so after the first step almost nothing reaches malloc, and nothing is page-faulted
// back from the OS (which costs 2-10x on these kernels).
#pragma once
#include <cstddef>
#include <cstdint>

namespace norma {

class Storage {
 public:
  // Uninitialized buffer of n floats (64-byte aligned).
  explicit Storage(int64_t n);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  float* data() { return data_; }
  const float* data() const { return data_; }
  int64_t size() const { return size_; }

 private:
  float* data_;
  int64_t size_;
};

// Bytes held on the allocator's free lists, and a way to give them back to the OS.
size_t cached_bytes();
void empty_cache();

}  // namespace norma
