#include "optim/data_parallel.h"

#include <cstring>

#include "core/distributed.h"
#include "core/error.h"

namespace norma::optim {

void average_gradients(const std::vector<Tensor>& params, int64_t bucket_floats) {
  const int K = dist::world_size();
  if (K == 1) return;
  std::vector<Tensor> ps;  // reverse order: the last layers' gradients are ready first
  for (auto it = params.rbegin(); it != params.rend(); ++it)
    if (it->requires_grad()) ps.push_back(*it);
  std::vector<float> bucket;
  const float inv_k = 1.f / float(K);
  for (size_t first = 0; first < ps.size();) {
    // Fill one bucket with whole gradients (at least one, however large).
    size_t last = first;
    int64_t n = 0;
    while (last < ps.size() && (last == first || n + ps[last].numel() <= bucket_floats)) n += ps[last++].numel();
    bucket.assign(size_t(n), 0.f);
    int64_t off = 0;
    for (size_t k = first; k < last; ++k) {
      Tensor g = ps[k].grad();
      if (g.defined()) {
        Tensor gc = g.contiguous();
        std::memcpy(bucket.data() + off, gc.data(), size_t(gc.numel()) * sizeof(float));
      }
      off += ps[k].numel();
    }
    dist::allreduce_sum(bucket.data(), n);
    // New gradient tensors: the old ones may share storage with other tensors of the tape.
    off = 0;
    for (size_t k = first; k < last; ++k) {
      Tensor g = empty(ps[k].shape());
      float* gp = g.data();
      for (int64_t i = 0; i < g.numel(); ++i) gp[i] = bucket[size_t(off + i)] * inv_k;
      ps[k].set_grad(g);
      off += ps[k].numel();
    }
    first = last;
  }
}

void broadcast_tensors(const std::vector<Tensor>& tensors, int root) {
  if (dist::world_size() == 1) return;
  for (Tensor t : tensors) {  // a handle: writes go to the shared storage
    NORMA_CHECK(t.is_contiguous(), "broadcast_tensors: expected contiguous tensors, got one of shape ", t.shape());
    dist::broadcast(t.data(), t.numel() * int64_t(sizeof(float)), root);
  }
}

uint64_t checksum(const std::vector<Tensor>& tensors) {
  uint64_t h = 14695981039346656037ULL;  // FNV-1a 64
  for (const Tensor& t : tensors) {
    Tensor c = t.contiguous();
    const unsigned char* p = reinterpret_cast<const unsigned char*>(c.data());
    for (size_t i = 0; i < size_t(c.numel()) * sizeof(float); ++i) h = (h ^ p[i]) * 1099511628211ULL;
  }
  return h;
}

void check_identical(const std::vector<Tensor>& tensors, const std::string& what) {
  if (dist::world_size() == 1) return;
  uint64_t lo = 0, hi = 0;
  dist::allreduce_min_max(checksum(tensors), lo, hi);
  if (lo != hi)
    dist::fail_everywhere(what + " differ between the " + std::to_string(dist::world_size()) +
                          " ranks (checksums from " + std::to_string(lo) + " to " + std::to_string(hi) +
                          "): data-parallel replicas must stay identical; this is a bug, please report it");
}

}  // namespace norma::optim
