// What `norma train` needs from the machine, on the real binary: an --out it cannot write, one
// without room for the run's checkpoints and a missing data directory are errors before any
// work, naming the path (on every rank under mpirun); memory is logged after each epoch and does
// not grow from epoch to epoch. The full and read-only directories are small tmpfs mounts,
// which need root (else the test says it is skipped).
#include <doctest/doctest.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data_helpers.h"
#include "process_helpers.h"

using namespace norma_test;

namespace {
// A tmpfs of `bytes` at `dir`, read-only when `read_only`, unmounted at the end of the scope.
// `mounted` is false where this process may not mount.
struct Tmpfs {
  std::string dir;
  bool mounted = false;
  Tmpfs(const std::string& d, int64_t bytes, bool read_only) : dir(d) {
    fs::create_directories(dir);
    const std::string size = "size=" + std::to_string(bytes);
    mounted = ::mount("tmpfs", dir.c_str(), "tmpfs", read_only ? MS_RDONLY : 0, size.c_str()) == 0;
  }
  ~Tmpfs() {
    if (mounted) ::umount2(dir.c_str(), MNT_DETACH);
  }
};

std::string train(const TempDir& tmp, const std::string& out) {
  return std::string(NORMA_BINARY) + " train --data-dir " + (tmp / "data") + " --steps 24 --batch-size 8 --threads 1" +
         " --checkpoint-every 1 --out " + out;
}

bool started(const std::string& output) { return output.find("norma train: lenet") != std::string::npos; }

int64_t bytes_in(const std::string& dir) {
  int64_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += int64_t(e.file_size());
  return n;
}
}  // namespace

TEST_CASE("resources: an --out that cannot be written is an error before any work, on every rank") {
  TempDir tmp("res_readonly");
  write_tiny_mnist(tmp / "data", 96, 20);
  const std::string ro = tmp / "ro";
  Tmpfs mount(ro, 1 << 20, /*read_only=*/true);
  if (!mount.mounted) {
    if (::geteuid() == 0) {
      MESSAGE("skipped: root cannot be stopped by permissions, and mounting a read-only tmpfs failed");
      return;
    }
    ::chmod(ro.c_str(), 0555);
  }
  Result r = run(train(tmp, ro));
  INFO(r.output);
  CHECK(r.status != 0);
  CHECK(r.output.find("--out: cannot write in the run directory " + ro + ": ") != std::string::npos);
  CHECK_FALSE(started(r.output));

  r = run(train(tmp, ro + "/run"));
  CHECK(r.status != 0);
  CHECK(r.output.find("--out: cannot create the run directory " + ro + "/run") != std::string::npos);
  CHECK_FALSE(started(r.output));

  SKIP_WITHOUT_MPIRUN();  // rank 0 writes the run directory; the others stop with its message
  r = run(mpirun(2) + train(tmp, ro));
  CHECK(r.status != 0);
  CHECK(count(r.output, "rank 0: --out: cannot write in the run directory " + ro) == 2);
}

TEST_CASE("resources: an --out without room for the run's checkpoints is an error before any work, and the estimate fits") {
  TempDir tmp("res_full");
  write_tiny_mnist(tmp / "data", 96, 20);
  Tmpfs small(tmp / "small", 64 << 10, false);
  if (!small.mounted) {
    MESSAGE("skipped: mounting a small tmpfs failed (needs root)");
    return;
  }
  Result r = run(train(tmp, small.dir));
  INFO(r.output);
  CHECK(r.status != 0);
  const std::string says = "--out: " + small.dir + " has 0.1 MiB free, but this run needs about ";
  const size_t at = r.output.find(says);
  REQUIRE(at != std::string::npos);
  CHECK_FALSE(started(r.output));
  const double need_mib = std::strtod(r.output.c_str() + at + says.size(), nullptr);
  CHECK(need_mib > 0.1);

  // A tmpfs as large as the estimate holds the run to its end: the estimate is not too low.
  Tmpfs enough(tmp / "enough", int64_t(need_mib * 1024 * 1024) + (64 << 10), false);
  REQUIRE(enough.mounted);
  r = run(train(tmp, enough.dir + "/run"));
  CHECK(r.status == 0);
  CHECK(started(r.output));
  CHECK(double(bytes_in(enough.dir + "/run")) <= need_mib * 1024 * 1024);
}

TEST_CASE("resources: a missing data directory or folder is an error before any work, naming it") {
  TempDir tmp("res_nodata");
  fs::create_directories(tmp / "empty-bin");
  // No npm on PATH: the fetch of the missing set fails at once, saying where the files go.
  const std::string no_fetch = "env PATH=" + (tmp / "empty-bin") + " ";
  Result r = run(no_fetch + NORMA_BINARY + " train --data-dir " + (tmp / "nope") + " --out " + (tmp / "run"));
  INFO(r.output);
  CHECK(r.status != 0);
  CHECK(r.output.find("Put these files in " + (tmp / "nope") + "/mnist/ by hand") != std::string::npos);
  CHECK_FALSE(started(r.output));
  CHECK_FALSE(fs::exists(tmp / "run"));

  r = run(std::string(NORMA_BINARY) + " train --data folder:" + (tmp / "nope2") + " --out " + (tmp / "run"));
  CHECK(r.status != 0);
  CHECK(r.output.find("--data: folder " + (tmp / "nope2") + " does not exist") != std::string::npos);
  CHECK_FALSE(fs::exists(tmp / "run"));
}

TEST_CASE("resources: memory is logged after each epoch, and the peak after epoch 3 is within 4 MiB of epoch 1's") {
  TempDir tmp("res_memory");
  write_tiny_mnist(tmp / "data", 512, 64);  // 16 batches of 32 an epoch
  Result r = run(std::string(NORMA_BINARY) + " train --data-dir " + (tmp / "data") +
                 " --epochs 3 --batch-size 32 --threads 1 --out " + (tmp / "run"));
  INFO(r.output);
  REQUIRE(r.status == 0);
  std::vector<nlohmann::json> mem;
  std::ifstream in(tmp / "run/metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    nlohmann::json j = nlohmann::json::parse(line);
    if (j.contains("peak_rss_mib")) mem.push_back(j);
  }
  REQUIRE(mem.size() == 3);
  for (int e = 0; e < 3; ++e) {
    CHECK(mem[size_t(e)]["epoch"] == e + 1);
    CHECK(mem[size_t(e)]["step"] == 16 * (e + 1));
    CHECK(double(mem[size_t(e)]["rss_mib"]) > 1);
    CHECK(double(mem[size_t(e)]["rss_mib"]) <= double(mem[size_t(e)]["peak_rss_mib"]));
  }
  const double first = mem[0]["peak_rss_mib"], last = mem[2]["peak_rss_mib"];
  MESSAGE("peak RSS after epochs 1, 2, 3: " << first << ", " << double(mem[1]["peak_rss_mib"]) << ", " << last << " MiB");
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer holds freed memory back (its quarantine) and adds its own: its figures
  // say nothing about norma's.
  MESSAGE("the peak is not compared under AddressSanitizer");
#else
  // Seen: flat to within 0.2 MiB. A leak of 128 KiB a step would exceed 4 MiB over the 32
  // steps of epochs 2 and 3.
  CHECK(last - first <= 4.0);
#endif
}
