// Running the norma binary from tests: to completion under `timeout` (run), under mpirun
// (mpirun), or in the background so that a test can signal it (spawn / wait_exit).
#pragma once
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/distributed.h"

namespace norma_test {

struct Result {
  int status = -1;  // the exit status; 124 when `timeout` stopped it
  std::string output;
};

// Runs `command` (stdout and stderr together), stopped after `seconds` whatever happens.
inline Result run(const std::string& command, int seconds = 60) {
  const std::string full = "timeout -k 5 " + std::to_string(seconds) + " " + command + " 2>&1";
  Result r;
  FILE* p = ::popen(full.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) r.output.append(buf, n);
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

inline bool mpirun_available() {
  return norma::dist::built_with_mpi() && std::system("command -v mpirun >/dev/null 2>&1") == 0;
}

// mpirun for tests: more ranks than cores allowed, no pinning (tests run side by side), a rank
// waiting in a collective yields its core (else on a busy machine it spins while the rank it
// waits for cannot run), one thread a rank, and as root the flag Open MPI requires for it.
// ASan's leak check is off in the ranks: Open MPI keeps memory until exit on purpose.
inline std::string mpirun(int np) {
  return std::string("env OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=0 mpirun --oversubscribe --bind-to none"
                     " --mca mpi_yield_when_idle 1") +
         (::geteuid() == 0 ? " --allow-run-as-root" : "") + " -x OMP_NUM_THREADS -x ASAN_OPTIONS -np " +
         std::to_string(np) + " ";
}

#define SKIP_WITHOUT_MPIRUN()                                                                                     \
  if (!norma_test::mpirun_available()) {                                                                          \
    MESSAGE("skipped: " << (norma::dist::built_with_mpi() ? "mpirun not found" : "norma built without MPI")); \
    return;                                                                                                       \
  }

// How many times `part` occurs in `text`.
inline size_t count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

// Starts argv[0] (a path) with argv, its stdout and stderr appended to `log`, and returns its
// pid. `env` ("NAME=value" entries): its whole environment; empty: ours.
inline pid_t spawn(const std::vector<std::string>& argv, const std::string& log, const std::vector<std::string>& env = {}) {
  // Everything the child needs is made before fork: between fork and exec only system calls.
  std::vector<char*> args, envp;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) ::dup2(fd, 1), ::dup2(fd, 2);
    if (env.empty())
      ::execv(args[0], args.data());
    else
      ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  return pid;
}

// Whether `pid` has exited (reaping it); `status` gets waitpid's status then.
inline bool exited(pid_t pid, int& status) { return ::waitpid(pid, &status, WNOHANG) == pid; }

// Waits for `pid` and returns its waitpid status.
inline int wait_exit(pid_t pid) {
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return status;
}

}  // namespace norma_test
