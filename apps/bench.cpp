// norma bench: the speed of norma's models and kernels, optionally side by side with PyTorch.
//
//   norma bench [--threads N] [--repeats R] [--filter TEXT] [--compare-torch] [--json FILE]
//   norma bench --profile [--profile-model resnet20-bn]
//
// The cases are in apps/bench_cases.cpp (norma) and apps/bench_torch.py (PyTorch, the same
// names). With --compare-torch the PyTorch script runs as a child process for the whole
// invocation and the two alternate case by case: norma times a case, then asks the child to
// time the same one, so both see the same moment of a shared machine. PyTorch runs at its best:
// torch.set_num_threads(N), OPENBLAS_NUM_THREADS=1 (no BLAS pthreads fighting OpenMP's) and
// glibc's malloc told to keep freed memory (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_).
//
// OpenBLAS's kernels: the main table runs with the environment as it is. When the environment
// sets OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE, the BLAS-bound cases run again with both unset
// for that command alone, in fresh processes (`norma bench --serve` and the PyTorch script),
// since OpenBLAS reads them once, at load time.
//
// The profile (--profile) times each op of a training step, forward and backward, through
// core/profiler.h's hooks in autograd.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/bench_cases.h"
#include "apps/child_process.h"
#include "apps/commands.h"
#include "core/atomic_file.h"
#include "core/blas_kernels.h"
#include "core/norma.h"
#include "core/profiler.h"

namespace norma::apps {
namespace {

using json = nlohmann::json;

struct Options {
  int threads = 2, repeats = 5;
  bool compare_torch = false, profile = false, serve = false, peak_rss_child = false;
  std::string json_path, filter, python = "/usr/bin/python3", torch_script, profile_model = "resnet20-bn";
};

bool selected(const Options& o, const BenchCase& c) {
  return o.filter.empty() || c.name.find(o.filter) != std::string::npos;
}

std::string self_exe() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  NORMA_CHECK(n > 0, "bench: cannot read /proc/self/exe");
  return std::string(buf, size_t(n));
}

bool file_exists(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0;
}

// apps/bench_torch.py next to the source tree the binary was built in (build/norma ->
// apps/bench_torch.py), else under the current directory.
std::string find_torch_script(const Options& o) {
  if (!o.torch_script.empty()) {
    NORMA_CHECK(file_exists(o.torch_script), "bench: --torch-script ", o.torch_script, " does not exist");
    return o.torch_script;
  }
  std::string exe = self_exe();
  for (int up = 0; up < 3 && exe.find('/') != std::string::npos; ++up) {
    exe = exe.substr(0, exe.rfind('/'));
    if (file_exists(exe + "/apps/bench_torch.py")) return exe + "/apps/bench_torch.py";
  }
  NORMA_CHECK(file_exists("apps/bench_torch.py"),
              "bench: cannot find apps/bench_torch.py (next to the source tree or in the current directory); "
              "pass --torch-script PATH");
  return "apps/bench_torch.py";
}

// The environment PyTorch runs in: the same threads, one BLAS thread, malloc keeping its memory.
// glibc takes at most 32 MiB as the mmap threshold (larger values are ignored); buffers above it
// are still mmap'ed, the others stay in the heap, which is never trimmed.
std::vector<std::string> torch_environment(const Options& o, const std::vector<std::string>& unset) {
  const std::string n = std::to_string(o.threads);
  return environment_with({"OMP_NUM_THREADS=" + n, "MKL_NUM_THREADS=" + n, "OPENBLAS_NUM_THREADS=1",
                           "MALLOC_MMAP_THRESHOLD_=33554432", "MALLOC_TRIM_THRESHOLD_=68719476736"},
                          unset);
}

// The side that is not this process: PyTorch's script or norma in another environment, asked
// for one case at a time. It answers a first line of JSON about itself.
struct Peer {
  std::unique_ptr<ChildProcess> proc;
  json hello;
  json time(const std::string& name) {
    proc->write_line("case " + name);
    return json::parse(proc->read_line());
  }
};

Peer start_torch(const Options& o, const std::vector<std::string>& unset) {
  const std::string script = find_torch_script(o);
  NORMA_CHECK(file_exists(o.python), "bench --compare-torch: ", o.python,
              " not found. Install Debian's python3 and python3-torch (sudo apt-get install python3-torch), "
              "or pass --python PATH");
  Peer p;
  p.proc = std::make_unique<ChildProcess>(
      std::vector<std::string>{o.python, script, "--serve", "--threads", std::to_string(o.threads), "--repeats",
                               std::to_string(o.repeats)},
      torch_environment(o, unset));
  p.hello = json::parse(p.proc->read_line());
  NORMA_CHECK(!p.hello.contains("error"), "bench --compare-torch: ", p.hello.value("error", std::string()),
              "\n  PyTorch is needed: sudo apt-get install python3-torch (Debian's torch 1.13), then run ",
              o.python, " -c 'import torch' to check");
  return p;
}

Peer start_norma_child(const Options& o, const std::vector<std::string>& unset) {
  Peer p;
  p.proc = std::make_unique<ChildProcess>(
      std::vector<std::string>{self_exe(), "bench", "--serve", "--threads", std::to_string(o.threads), "--repeats",
                               std::to_string(o.repeats)},
      environment_with({}, unset));
  p.hello = json::parse(p.proc->read_line());
  return p;
}

// "1234 img/s" or "12.34 ms (456 GFLOP/s)" for a case timed at `s` seconds per iteration.
std::string figure(const BenchCase& c, double s) {
  char buf[64];
  if (c.unit == "img/s")
    std::snprintf(buf, sizeof buf, "%.0f img/s", c.items / s);
  else if (c.flops > 0)
    std::snprintf(buf, sizeof buf, "%.2f ms (%.0f GFLOP/s)", s * 1e3, c.flops / s * 1e-9);
  else
    std::snprintf(buf, sizeof buf, "%.2f ms", s * 1e3);
  return buf;
}

json case_json(const BenchCase& c, double s) {
  json j{{"seconds", s}};
  if (c.unit == "img/s") j["img_per_s"] = c.items / s;
  if (c.unit == "ms") j["ms"] = s * 1e3;
  if (c.flops > 0) j["gflops"] = c.flops / s * 1e-9;
  return j;
}

// Runs the selected cases of `cases` in this process (or in `mine`, a norma child), alternating
// with `other` when there is one; prints one row per case and returns them as JSON.
json run_table(const Options& o, const std::vector<BenchCase>& cases, Peer* mine, Peer* other) {
  std::printf("%-40s %26s", "case", "norma");
  if (other) std::printf(" %26s %8s", "PyTorch", "speed");
  std::printf("\n");
  json rows = json::array();
  for (const BenchCase& c : cases) {
    std::fflush(stdout);
    json row{{"name", c.name}, {"unit", c.unit}};
    double s = 0;
    if (mine) {
      json r = mine->time(c.name);
      NORMA_CHECK(!r.contains("error"), "bench: norma child: ", r.value("error", std::string()));
      s = r.at("seconds").get<double>();
    } else {
      s = median_seconds(c.setup(), o.repeats);
    }
    row["norma"] = case_json(c, s);
    std::printf("%-40s %26s", c.name.c_str(), figure(c, s).c_str());
    if (other) {
      json r = other->time(c.name);
      if (r.contains("error")) {
        std::printf(" %26s\n", ("error: " + r.value("error", std::string())).c_str());
        row["torch_error"] = r["error"];
      } else {
        const double t = r.at("seconds").get<double>();
        row["torch"] = case_json(c, t);
        row["speed_ratio"] = t / s;  // > 1: norma is faster
        std::printf(" %26s %7.2fx\n", figure(c, t).c_str(), t / s);
      }
    } else {
      std::printf("\n");
    }
    rows.push_back(row);
  }
  return rows;
}

// Peak RSS of a resnet20+BN training step, each framework in a fresh process.
json run_peak_rss(const Options& o, bool torch) {
  auto line = [](ChildProcess& p) { return json::parse(p.read_line()); };
  ChildProcess mine({self_exe(), "bench", "--peak-rss-child", "--threads", std::to_string(o.threads)},
                    environment_with({}, {}));
  json j{{"norma", line(mine)}};
  if (torch) {
    ChildProcess theirs({o.python, find_torch_script(o), "--peak-rss", "--threads", std::to_string(o.threads)},
                        torch_environment(o, {}));
    j["torch"] = line(theirs);
  }
  auto mib = [](const json& r, const char* k) { return r.at(k).get<double>() / (1024.0 * 1024.0); };
  std::printf("%-40s %26s", "resnet20-bn train b128: peak RSS", "");
  if (torch) std::printf(" %26s", "");
  std::printf("\n");
  const char* rows[][2] = {{"  process peak (MiB)", "peak_bytes"}, {"  growth over the steps (MiB)", "step_bytes"}};
  for (auto& r : rows) {
    for (const char* side : {"norma", "torch"})
      if (j.contains(side)) j[side]["step_bytes"] = j[side]["peak_bytes"].get<double>() - j[side]["before_bytes"].get<double>();
    std::printf("%-40s %26.0f", r[0], mib(j["norma"], r[1]));
    if (torch) std::printf(" %26.0f %7.2fx", mib(j["torch"], r[1]), mib(j["torch"], r[1]) / mib(j["norma"], r[1]));
    std::printf("\n");
  }
  return j;
}

// Per-op profile of a training step: the mean over several steps after a warm-up.
json run_profile(const Options& o) {
  const std::string spec = o.profile_model;
  const size_t dash = spec.rfind('-');
  NORMA_CHECK(dash != std::string::npos, "bench: --profile-model expects MODEL-NORM (resnet20-bn), got ", spec);
  const std::string model = spec.substr(0, dash), norm = spec.substr(dash + 1);
  const int64_t batch = model == "mlp" ? 60 : 128;
  TrainStep step = make_train_step(model, norm, batch);
  step(), step();  // warm-up
  const int steps = std::max(3, o.repeats);
  using Clock = std::chrono::steady_clock;
  double total = 0;
  profiler::start();
  for (int i = 0; i < steps; ++i) {
    const Clock::time_point t0 = Clock::now();
    profiler::mark();
    step.forward_backward();
    const Clock::time_point t1 = Clock::now();
    {
      profiler::Quiet quiet;  // the optimizer's own ops are charged to it as a whole
      step.update();
    }
    const Clock::time_point t2 = Clock::now();
    profiler::add("sgd step + zero_grad", false, std::chrono::duration<double>(t2 - t1).count());
    total += std::chrono::duration<double>(t2 - t0).count();
  }
  profiler::stop();
  const double step_ms = total / steps * 1e3;
  std::printf("profile: %s training step, batch %lld, %d threads: %.1f ms per step (%.0f img/s), mean of %d steps\n",
              spec.c_str(), (long long)batch, o.threads, step_ms, double(batch) / (step_ms * 1e-3), steps);
  std::printf("  hooks: forward = time from the previous op's record() to this op's (core/autograd.cpp),\n"
              "  backward = the op's backward closure in run_backward\n");
  std::printf("%-26s %10s %10s %10s %7s %7s\n", "op", "fwd ms", "bwd ms", "total ms", "%step", "calls");
  json rows = json::array();
  double accounted = 0;
  for (const profiler::Entry& e : profiler::entries()) {
    const double f = e.forward_s / steps * 1e3, b = e.backward_s / steps * 1e3;
    accounted += f + b;
    std::printf("%-26s %10.2f %10.2f %10.2f %6.1f%% %7.0f\n", e.name.c_str(), f, b, f + b, 100 * (f + b) / step_ms,
                double(std::max(e.forward_calls, e.backward_calls)) / steps);
    rows.push_back({{"op", e.name}, {"forward_ms", f}, {"backward_ms", b}, {"percent", 100 * (f + b) / step_ms}});
  }
  std::printf("%-26s %10s %10s %10.2f %6.1f%%\n", "(outside any op)", "", "", step_ms - accounted,
              100 * (step_ms - accounted) / step_ms);
  return {{"model", spec}, {"batch", batch}, {"step_ms", step_ms}, {"ops", rows}};
}

// `norma bench --serve`: answers "case NAME" lines with {"name", "seconds"} (the protocol of
// apps/bench_torch.py --serve), after a first line about itself.
void serve(const Options& o) {
  std::vector<BenchCase> cases = bench_cases();
  std::cout << json{{"norma", NORMA_VERSION}, {"blas_core", blas_core_name()}, {"threads", o.threads}}.dump()
            << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) {
    json r;
    const std::string name = line.rfind("case ", 0) == 0 ? line.substr(5) : line;
    r["name"] = name;
    r["error"] = "unknown case";
    for (const BenchCase& c : cases)
      if (c.name == name) {
        r.erase("error");
        r["seconds"] = median_seconds(c.setup(), o.repeats);
      }
    std::cout << r.dump() << std::endl;
  }
}

// Whether OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE come from the environment norma was started in
// (rather than from use_best_blas_kernels' restart, which marks its choice).
bool blas_env_set_by_user() {
  const bool chosen_by_norma = std::getenv("NORMA_BLAS_CORE_CHOSEN") != nullptr;
  return (std::getenv("OPENBLAS_CORETYPE") && !chosen_by_norma) || std::getenv("OPENBLAS_L2_SIZE");
}

void run_bench(const Options& o) {
  set_num_threads(o.threads);
  if (o.peak_rss_child) {
    PeakRss r = measure_peak_rss();
    std::cout << json{{"before_bytes", r.before_bytes}, {"peak_bytes", r.peak_bytes}}.dump() << std::endl;
    return;
  }
  if (o.serve) return serve(o);
  json out{{"threads", o.threads}, {"repeats", o.repeats}, {"blas_core", blas_core_name()}};
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  std::printf("norma bench: %d threads, median of %d timed runs after a warm-up; OpenBLAS kernels: %s%s\n", o.threads,
              o.repeats, blas_core_name(),
              !coretype                                   ? ""
              : std::getenv("NORMA_BLAS_CORE_CHOSEN") ? " (OPENBLAS_CORETYPE chosen by norma, core/blas_kernels.h)"
                                                          : " (OPENBLAS_CORETYPE set by the environment)");
  if (o.profile) {
    out["profile"] = run_profile(o);
  } else {
    std::vector<BenchCase> cases;
    for (BenchCase& c : bench_cases())
      if (selected(o, c)) cases.push_back(std::move(c));
    Peer torch;
    if (o.compare_torch) {
      torch = start_torch(o, {});
      out["torch"] = torch.hello;
      std::printf("PyTorch %s (%s), %d threads, OPENBLAS_NUM_THREADS=1, malloc keeping its memory; "
                  "speed = norma's speed / PyTorch's (> 1: norma is faster)\n",
                  torch.hello.value("torch", std::string("?")).c_str(),
                  torch.hello.value("backends", std::string("?")).c_str(), o.threads);
    }
    std::printf("\nenvironment as it is\n");
    out["cases"] = run_table(o, cases, nullptr, o.compare_torch ? &torch : nullptr);
    torch = Peer();  // ends the child before the memory runs
    if (o.filter.empty() || std::string("peak RSS").find(o.filter) != std::string::npos)
      out["peak_rss"] = run_peak_rss(o, o.compare_torch);

    std::vector<BenchCase> blas_cases;
    for (BenchCase& c : cases)
      if (c.blas_bound) blas_cases.push_back(std::move(c));
    if (!blas_env_set_by_user()) {
      std::printf("\nOPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are not set by the environment: the table above is "
                  "also OpenBLAS's own choice\n");
    } else if (!blas_cases.empty()) {
      const std::vector<std::string> unset{"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "NORMA_BLAS_CORE_CHOSEN"};
      Peer mine = start_norma_child(o, unset);
      Peer theirs;
      if (o.compare_torch) theirs = start_torch(o, unset);
      std::printf("\nOPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for this command (norma's OpenBLAS kernels: %s)\n",
                  mine.hello.value("blas_core", std::string("?")).c_str());
      out["blas_env_unset"] = {{"blas_core", mine.hello.value("blas_core", std::string("?"))},
                               {"cases", run_table(o, blas_cases, &mine, o.compare_torch ? &theirs : nullptr)}};
    }
  }
  if (!o.json_path.empty()) {
    const std::string text = out.dump(2) + "\n";
    write_file_atomic(o.json_path, text.data(), text.size());
    std::printf("\nwrote %s\n", o.json_path.c_str());
  }
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Time models, kernels and memory; --compare-torch runs PyTorch alongside");
  auto opt = std::make_shared<Options>();
  cmd->add_option("--threads", opt->threads, "Threads for norma (and PyTorch)")
      ->default_val(2)
      ->check(CLI::PositiveNumber);
  cmd->add_option("--repeats", opt->repeats, "Timed runs per case (the median is shown)")
      ->default_val(5)
      ->check(CLI::PositiveNumber);
  cmd->add_option("--filter", opt->filter, "Only the cases whose name contains this text");
  cmd->add_flag("--compare-torch", opt->compare_torch,
                "Run the same cases in PyTorch (apps/bench_torch.py), alternating, and print the ratios");
  cmd->add_option("--json", opt->json_path, "Also write the results to this JSON file");
  cmd->add_flag("--profile", opt->profile, "Only profile a training step per op (forward and backward)");
  cmd->add_option("--profile-model", opt->profile_model, "MODEL-NORM to profile")->default_val("resnet20-bn");
  cmd->add_option("--python", opt->python, "The Python with torch")->default_val("/usr/bin/python3");
  cmd->add_option("--torch-script", opt->torch_script, "apps/bench_torch.py (found next to the build by default)");
  cmd->add_flag("--serve", opt->serve, "Internal: answer case requests on stdin")->group("");
  cmd->add_flag("--peak-rss-child", opt->peak_rss_child, "Internal: measure peak RSS and exit")->group("");
  cmd->callback([opt] { run_bench(*opt); });
}

}  // namespace norma::apps
