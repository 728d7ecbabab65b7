#include "apps/child_process.h"

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

extern char** environ;

namespace norma::apps {

std::vector<std::string> environment_with(const std::vector<std::string>& set, const std::vector<std::string>& unset) {
  auto name_of = [](const std::string& kv) { return kv.substr(0, kv.find('=')); };
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e, name = name_of(kv);
    bool drop = false;
    for (const std::string& u : unset) drop = drop || name == u;
    for (const std::string& s : set) drop = drop || name == name_of(s);
    if (!drop) env.push_back(kv);
  }
  env.insert(env.end(), set.begin(), set.end());
  return env;
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  for (const std::string& a : argv) what_ += (what_.empty() ? "" : " ") + a;
  int to_child[2], from_child[2];
  NORMA_CHECK(pipe(to_child) == 0 && pipe(from_child) == 0, "cannot create pipes for ", what_, ": ",
              std::strerror(errno));
  std::vector<char*> args, envp;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  args.push_back(nullptr), envp.push_back(nullptr);
  pid_ = fork();
  NORMA_CHECK(pid_ >= 0, "cannot start ", what_, ": ", std::strerror(errno));
  if (pid_ == 0) {  // the child: only async-signal-safe calls until execve
    dup2(to_child[0], 0), dup2(from_child[1], 1);
    close(to_child[0]), close(to_child[1]), close(from_child[0]), close(from_child[1]);
    execve(args[0], args.data(), envp.data());
    const char msg[] = "norma: cannot execute the child process\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(127);
  }
  close(to_child[0]), close(from_child[1]);
  in_ = fdopen(to_child[1], "w");
  out_ = fdopen(from_child[0], "r");
  std::signal(SIGPIPE, SIG_IGN);  // a child that died is reported by read_line, not by a signal
}

ChildProcess::~ChildProcess() {
  if (in_) std::fclose(in_);
  if (out_) std::fclose(out_);
  if (pid_ > 0) waitpid(pid_, nullptr, 0);
}

void ChildProcess::write_line(const std::string& line) {
  std::fputs((line + "\n").c_str(), in_);
  std::fflush(in_);
}

std::string ChildProcess::read_line() {
  char* buf = nullptr;
  size_t cap = 0;
  const ssize_t n = getline(&buf, &cap, out_);
  std::string line = n > 0 ? std::string(buf, size_t(n)) : std::string();
  std::free(buf);
  NORMA_CHECK(n > 0, what_, " exited without answering");
  if (!line.empty() && line.back() == '\n') line.pop_back();
  return line;
}

}  // namespace norma::apps
