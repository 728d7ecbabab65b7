#include "core/storage.h"

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace norma {
namespace {

constexpr size_t kAlign = 64;
// Above this many cached bytes, freed buffers go straight back to malloc.
constexpr size_t kMaxCached = size_t(4) << 30;

struct Cache {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free_lists;  // bytes -> buffers
  size_t cached = 0;
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: tensors may outlive static destruction
  return *c;
}

size_t round_bytes(int64_t n) {
  size_t bytes = size_t(n > 0 ? n : 1) * sizeof(float);
  return (bytes + kAlign - 1) / kAlign * kAlign;
}

}  // namespace

Storage::Storage(int64_t n) : data_(nullptr), size_(n) {
  size_t bytes = round_bytes(n);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.free_lists.find(bytes);
    if (it != c.free_lists.end() && !it->second.empty()) {
      data_ = static_cast<float*>(it->second.back());
      it->second.pop_back();
      c.cached -= bytes;
      return;
    }
  }
  data_ = static_cast<float*>(std::aligned_alloc(kAlign, bytes));
  if (!data_) throw std::bad_alloc();
}

Storage::~Storage() {
  size_t bytes = round_bytes(size_);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.cached + bytes <= kMaxCached) {
      c.free_lists[bytes].push_back(data_);
      c.cached += bytes;
      return;
    }
  }
  std::free(data_);
}

size_t cached_bytes() {
  std::lock_guard<std::mutex> lock(cache().mu);
  return cache().cached;
}

void empty_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  for (auto& [bytes, list] : c.free_lists)
    for (void* p : list) std::free(p);
  c.free_lists.clear();
  c.cached = 0;
}

}  // namespace norma
