#include "apps/resources.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"

namespace norma::apps {

namespace {
std::string mib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / (1024.0 * 1024.0));
  return buf;
}
}  // namespace

// A safetensors file is its float32 data plus a JSON header: one entry per tensor, and for
// last.ckpt the run's config (a few KiB). 256 KiB covers the headers of every built-in model;
// a metrics line is under 256 bytes.
int64_t run_dir_bytes_needed(int64_t model_floats, int64_t optimizer_floats, int64_t metrics_lines) {
  constexpr int64_t kHeader = 256 << 10, kLine = 256, kConfig = 16 << 10;
  const int64_t checkpoint = 4 * (model_floats + optimizer_floats) + kHeader;
  const int64_t model = 4 * model_floats + kHeader;
  return 2 * (checkpoint + model) + metrics_lines * kLine + kConfig;
}

void check_run_dir(const std::string& dir, int64_t bytes_needed, int64_t bytes_there) {
  // Create a file rather than ask access(): this also catches read-only mounts and quotas the
  // permission bits do not show, and root, whom the bits do not stop.
  const std::string probe = dir + "/.norma-write-check." + std::to_string(::getpid());
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  NORMA_CHECK(fd >= 0, "--out: cannot write in the run directory ", dir, ": ", std::strerror(errno),
              " (choose another --out)");
  ::close(fd);
  ::unlink(probe.c_str());

  struct statvfs fs {};
  NORMA_CHECK(::statvfs(dir.c_str(), &fs) == 0, "--out: cannot query the free space of ", dir, ": ", std::strerror(errno));
  const double free_bytes = double(fs.f_bavail) * double(fs.f_frsize);
  const double need = double(bytes_needed - bytes_there);
  NORMA_CHECK(free_bytes >= need, "--out: ", dir, " has ", mib(free_bytes), " free, but this run needs about ",
              mib(need), " there (its checkpoint and model, each written next to the previous one, and its logs);"
              " free some space or choose another --out");
}

void check_run_dir(const TrainOptions& o, const nn::Module& model, int64_t total, int64_t epochs) {
  int64_t model_floats = 0, there = 0;
  for (auto& [name, t] : model.state_dict()) model_floats += t.numel();
  const int64_t slots = o.optimizer == "sgd" ? (o.momentum != 0) : 2;  // momentum; Adam's two moments
  const int64_t lines = total / o.log_every + 2 * epochs + (o.eval_every > 0 ? total / o.eval_every : 0) + 1;
  for (const char* f : {"last.ckpt", "model.safetensors"}) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(std::filesystem::path(o.out) / f, ec);
    if (!ec) there += int64_t(size);
  }
  check_run_dir(o.out, run_dir_bytes_needed(model_floats, slots * model.num_parameters(), lines), there);
}

MemoryUse memory_use() {
  MemoryUse m;
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    // "VmRSS:     12345 kB"
    double* field = line.rfind("VmRSS:", 0) == 0 ? &m.rss_mib : line.rfind("VmHWM:", 0) == 0 ? &m.peak_rss_mib : nullptr;
    if (field) *field = std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  }
  return m;
}

}  // namespace norma::apps
