// A per-op profile: forward and backward time per op name, off by default.
//
// Where it hooks (each a single check of a global flag when off):
//   record() (core/autograd.cpp): every op computes its output and then records it, so the
//     time since the previous record() on this thread is the op's forward (plus the little glue
//     between ops: module calls, shape checks). profiler::mark() restarts that clock where a
//     forward begins, so time spent outside the step is not charged to its first op.
//   run_backward() (core/autograd.cpp): each node's backward closure is timed under the op's
//     name; summing gradients into a node or a leaf's .grad is charged to "accumulate_grad"
//     (ops that backward closures call are not counted again).
//   add(): anything else a caller wants in the table (norma bench adds the optimizer step).
// Ops record on the thread that runs the model, so the table is not locked: profile one thread
// of control at a time (the ops' own OpenMP threads do not record).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace norma::profiler {

extern bool g_enabled;
inline bool enabled() { return g_enabled; }

void start();  // clears the table, turns profiling on and marks now
void stop();   // turns it off; the table stays until the next start()
void mark();   // the next record() charges only the time from here
void on_record(const char* name);                      // from record()
// While one is alive, record() charges nothing: run_backward() holds one, since ops called
// inside backward closures are part of the closure's time, not forwards of their own (the
// optimizer step in norma bench's profile too). The forward clock restarts when the last ends.
struct Quiet {
  Quiet();
  ~Quiet();
};
void add(const char* name, bool backward, double seconds);

struct Entry {
  std::string name;
  double forward_s = 0, backward_s = 0;
  int64_t forward_calls = 0, backward_calls = 0;
};
// Every op seen since start(), largest forward + backward time first.
std::vector<Entry> entries();

}  // namespace norma::profiler
