// The process group of data-parallel training: Open MPI's MPI_COMM_WORLD, or one process.
//
// Built with MPI (NORMA_WITH_MPI, when CMake finds Debian's libopenmpi-dev), a process started
// by `mpirun -np K` is rank r of K; MPI is initialised on first use and finalised at exit. A
// process started without mpirun is rank 0 of 1 and never touches MPI, so the plain binary
// keeps working (and costs nothing) on a machine without an MPI launcher. Without MPI every
// call below is the one-process identity.
//
// Errors. A collective call waits for every rank, so one rank that throws while the others
// enter a collective would hang them. Two rules prevent that:
//   - agree(fn): every rank runs fn; if it threw on any rank, every rank throws the error of
//     the lowest failing rank ("rank 1: cannot open ..."). Setup (options, data, checkpoint)
//     runs under it.
//   - after_error(): main() calls it on an error; unless every rank has the error (agree,
//     fail_everywhere), it calls MPI_Abort, which makes mpirun stop all ranks.
// Only the main thread calls these functions.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace norma::dist {

bool built_with_mpi();  // whether this binary has MPI at all
int rank();             // 0 without mpirun
int world_size();       // 1 without mpirun
inline bool is_main() { return rank() == 0; }  // the rank that prints and writes files

// In-place sums over the ranks: every rank ends with the same totals.
void allreduce_sum(float* data, int64_t n);
void allreduce_sum(double* data, int64_t n);
void allreduce_sum(int64_t* data, int64_t n);
// The smallest and largest of a value over the ranks.
void allreduce_min_max(uint64_t value, uint64_t& min, uint64_t& max);
// `bytes` bytes at `data` from rank `root` to every rank.
void broadcast(void* data, int64_t bytes, int root = 0);
void broadcast(std::string& s, int root = 0);
void barrier();

// Runs fn on every rank; when it throws norma::Error on any rank, throws on every rank the
// message of the lowest failing rank, prefixed "rank R: " when there is more than one rank.
void agree(const std::function<void()>& fn);
// Throws norma::Error(message) on a rank that knows every rank throws it too (the condition
// was computed from reduced values), so after_error() need not abort.
[[noreturn]] void fail_everywhere(const std::string& message);
// For main() after printing an error: under mpirun with more than one rank, unless the error
// is one every rank has, prints and calls MPI_Abort (which does not return).
void after_error();

}  // namespace norma::dist
