// norma_mpi_check: the checks of data parallelism that must run inside the ranks, launched by
// tests/test_distributed.cpp as `mpirun -np 2 norma_mpi_check CHECK`. Each rank prints what
// it found; the exit status is 0 when the check passed on this rank.
//   syncbn    SyncBatchNorm on K ranks (batches B and B + rank) equals BatchNorm2d in one
//             process on the concatenated batch: outputs, input gradients, summed weight and
//             bias gradients, running statistics, over 2 training steps and an eval step.
//   mismatch  rank 1's weights differ: check_identical throws on every rank.
//   hosts     syncbn, and reports whether the ranks are in different network namespaces
//             (the two-hosts test runs one rank per namespace).
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "core/distributed.h"
#include "core/norma.h"
#include "layers/norm/sync_batch_norm.h"
#include "optim/data_parallel.h"

using namespace norma;

namespace {
int R = 0, K = 1;

double max_diff(const Tensor& a, const Tensor& b) {
  std::vector<float> x = a.contiguous().to_vector(), y = b.contiguous().to_vector();
  if (x.size() != y.size()) return INFINITY;
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, double(std::fabs(x[i] - y[i])));
  return m;
}

// Rows [begin, end) of x along dim 0, as a fresh contiguous tensor.
Tensor rows(const Tensor& x, int64_t begin, int64_t end) { return x.slice(0, begin, end).contiguous(); }

Tensor summed(const Tensor& t) {
  std::vector<float> v = t.to_vector();
  dist::allreduce_sum(v.data(), int64_t(v.size()));
  return from_vector(v, t.shape());
}

// Rank r holds B + r * extra samples; the reference holds them all, in rank order.
bool syncbn(int64_t B, int64_t extra) {
  const int64_t C = 3, H = 5, W = 4;
  int64_t total = 0, begin = 0;
  for (int r = 0; r < K; ++r) {
    if (r == R) begin = total;
    total += B + r * extra;
  }
  const int64_t mine = B + R * extra;
  nn::BatchNorm2d ref(C);
  nn::SyncBatchNorm sync(C);
  Generator gen(42);  // the same draws on every rank
  Tensor w = randn({C}, &gen), b = randn({C}, &gen);
  for (nn::BatchNorm* m : {static_cast<nn::BatchNorm*>(&ref), static_cast<nn::BatchNorm*>(&sync)}) {
    m->param("weight").copy_(w);
    m->param("bias").copy_(b);
  }
  double worst = 0;
  for (int step = 0; step < 3; ++step) {
    if (step == 2) ref.eval(), sync.eval();
    Tensor x = normal({total, C, H, W}, 0.5f + float(step), 2.f, &gen), g = randn({total, C, H, W}, &gen);
    Tensor xa = x.clone().requires_grad_(), xr = rows(x, begin, begin + mine).requires_grad_();
    ref.zero_grad(), sync.zero_grad();
    // Loss sum(y * g): the rank's part of it has gradient g's rows, so every sum matches.
    Tensor ya = ref(xa), yr = sync(xr);
    (ya * g).sum().backward();
    (yr * rows(g, begin, begin + mine)).sum().backward();
    const double errs[] = {
        max_diff(yr, rows(ya, begin, begin + mine)),
        max_diff(xr.grad(), rows(xa.grad(), begin, begin + mine)),
        max_diff(summed(sync.param("weight").grad()), ref.param("weight").grad()),
        max_diff(summed(sync.param("bias").grad()), ref.param("bias").grad()),
        max_diff(sync.buffer("running_mean"), ref.buffer("running_mean")),
        max_diff(sync.buffer("running_var"), ref.buffer("running_var")),
    };
    for (double e : errs) worst = std::max(worst, e);
  }
  const bool ok = worst <= 1e-5;
  std::printf("rank %d of %d: syncbn, batches %lld%s: max difference from BatchNorm2d on the %lld samples %.3g: %s\n",
              R, K, (long long)B, extra ? " + rank" : "", (long long)total, worst, ok ? "ok" : "FAILED");
  return ok;
}

bool mismatch() {
  Tensor a = full({10}, 1.f), b = full({3, 3}, 2.f);
  if (R == 1) b.data()[4] = 2.5f;
  try {
    optim::check_identical({a, b}, "the test's weights");
  } catch (const Error& e) {
    std::printf("rank %d of %d: mismatch detected: %s\n", R, K, e.what());
    return true;
  }
  std::printf("rank %d of %d: mismatch NOT detected\n", R, K);
  return false;
}

// The inode of this process's network namespace: equal for processes in the same namespace.
uint64_t netns() {
  char buf[64] = {};
  const ssize_t n = ::readlink("/proc/self/ns/net", buf, sizeof buf - 1);  // "net:[4026531840]"
  return n > 5 ? std::strtoull(buf + 5, nullptr, 10) : 0;
}
}  // namespace

int main(int argc, char** argv) {
  const std::string check = argc > 1 ? argv[1] : "";
  R = dist::rank(), K = dist::world_size();
  set_num_threads(1);
  bool ok = false;
  if (check == "syncbn") {
    ok = syncbn(4, 0);
    ok = syncbn(3, 2) && ok;  // unequal batches: the counts are reduced too
  } else if (check == "mismatch") {
    ok = mismatch();
  } else if (check == "hosts") {
    uint64_t lo = 0, hi = 0;
    dist::allreduce_min_max(netns(), lo, hi);
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    std::printf("rank %d of %d: host %s, %s\n", R, K, host,
                lo != hi ? "the ranks are in different network namespaces" : "the ranks share one network namespace");
    ok = syncbn(4, 0) && lo != hi;
  } else {
    std::fprintf(stderr, "usage: mpirun -np K norma_mpi_check syncbn|mismatch|hosts\n");
    return 2;
  }
  std::fflush(stdout);
  return ok ? 0 : 1;
}
