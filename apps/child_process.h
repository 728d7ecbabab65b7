// A child process that norma talks to line by line: the PyTorch side of `norma bench
// --compare-torch`, and norma itself under another environment. Its stdin and stdout are pipes;
// its stderr is ours, so its errors show.
#pragma once
#include <sys/types.h>

#include <cstdio>
#include <string>
#include <vector>

namespace norma::apps {

// This process's environment with the variables in `set` ("NAME=value") replaced or added and
// those named in `unset` removed.
std::vector<std::string> environment_with(const std::vector<std::string>& set, const std::vector<std::string>& unset);

class ChildProcess {
 public:
  // Starts argv[0] (a path) with argv and env. Throws norma::Error when it cannot start.
  ChildProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env);
  ~ChildProcess();  // closes its stdin and waits for it to exit
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  void write_line(const std::string& line);
  // The next line of its stdout without the newline; throws when it exited first.
  std::string read_line();

 private:
  pid_t pid_ = -1;
  FILE* in_ = nullptr;   // its stdin
  FILE* out_ = nullptr;  // its stdout
  std::string what_;     // argv joined, for messages
};

}  // namespace norma::apps
