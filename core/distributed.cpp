// The process group: Open MPI when built with it and started by mpirun, else one process.
#include "core/distributed.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "core/error.h"

#ifdef NORMA_WITH_MPI
#define OMPI_SKIP_MPICXX 1  // MPI's C API only, not its (deprecated) C++ bindings
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace norma::dist {
namespace {
bool g_agreed = false;  // the error being thrown is one every rank throws

#ifdef NORMA_WITH_MPI
// mpirun (ORTE/PMIx) puts these in every rank's environment; a plain start has none of them.
bool launched_by_mpirun() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMIX_RANK") || std::getenv("PMI_RANK");
}

struct World {
  bool on = false;  // MPI initialised by us
  int rank = 0, size = 1;
};

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

// MPI is initialised on first use: the plain binary never starts it. Only the main thread
// calls MPI (the loader's prefetch thread does not), hence FUNNELED.
World& world() {
  static World w = [] {
    World v;
    if (!launched_by_mpirun()) return v;
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    std::atexit(finalize_at_exit);
    v.on = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &v.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &v.size);
    return v;
  }();
  return w;
}

// MPI counts are ints: long buffers go in pieces.
template <typename T>
void allreduce(T* data, int64_t n, MPI_Datatype type, MPI_Op op) {
  if (world().size == 1) return;
  for (int64_t off = 0; off < n; off += INT_MAX) {
    const int count = int(std::min<int64_t>(n - off, INT_MAX));
    MPI_Allreduce(MPI_IN_PLACE, data + off, count, type, op, MPI_COMM_WORLD);
  }
}
#endif
}  // namespace

#ifdef NORMA_WITH_MPI
bool built_with_mpi() { return true; }
int rank() { return world().rank; }
int world_size() { return world().size; }
void allreduce_sum(float* data, int64_t n) { allreduce(data, n, MPI_FLOAT, MPI_SUM); }
void allreduce_sum(double* data, int64_t n) { allreduce(data, n, MPI_DOUBLE, MPI_SUM); }
void allreduce_sum(int64_t* data, int64_t n) { allreduce(data, n, MPI_INT64_T, MPI_SUM); }
void allreduce_min_max(uint64_t value, uint64_t& min, uint64_t& max) {
  min = max = value;
  allreduce(&min, 1, MPI_UINT64_T, MPI_MIN);
  allreduce(&max, 1, MPI_UINT64_T, MPI_MAX);
}
void broadcast(void* data, int64_t bytes, int root) {
  if (world().size == 1) return;
  char* p = static_cast<char*>(data);
  for (int64_t off = 0; off < bytes; off += INT_MAX)
    MPI_Bcast(p + off, int(std::min<int64_t>(bytes - off, INT_MAX)), MPI_BYTE, root, MPI_COMM_WORLD);
}
void barrier() {
  if (world().size > 1) MPI_Barrier(MPI_COMM_WORLD);
}
void after_error() {
  if (!world().on || world().size == 1 || g_agreed) return;
  std::fprintf(stderr, "norma: rank %d of %d failed alone: stopping every rank (MPI_Abort)\n", rank(), world_size());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
}
#else
bool built_with_mpi() { return false; }
int rank() { return 0; }
int world_size() { return 1; }
void allreduce_sum(float*, int64_t) {}
void allreduce_sum(double*, int64_t) {}
void allreduce_sum(int64_t*, int64_t) {}
void allreduce_min_max(uint64_t value, uint64_t& min, uint64_t& max) { min = max = value; }
void broadcast(void*, int64_t, int) {}
void barrier() {}
void after_error() {}
#endif

void broadcast(std::string& s, int root) {
  if (world_size() == 1) return;
  int64_t n = int64_t(s.size());
  broadcast(&n, sizeof n, root);
  s.resize(size_t(n));
  broadcast(s.data(), n, root);
}

void agree(const std::function<void()>& fn) {
  std::string message;
  bool failed = false;
  try {
    fn();
  } catch (const std::exception& e) {  // norma::Error, and e.g. a JSON or filesystem error
    message = e.what(), failed = true;
  }
  if (world_size() == 1) {
    if (failed) throw Error(message);
    return;
  }
  // The lowest failing rank (world_size() when none failed) tells the others what went wrong.
  uint64_t first = 0, last = 0;
  allreduce_min_max(uint64_t(failed ? rank() : world_size()), first, last);
  if (first == uint64_t(world_size())) return;
  broadcast(message, int(first));
  fail_everywhere("rank " + std::to_string(first) + ": " + message);
}

void fail_everywhere(const std::string& message) {
  g_agreed = true;
  throw Error(message);
}

}  // namespace norma::dist
