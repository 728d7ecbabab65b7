// norma bench's pieces: the per-op profiler's hooks in autograd, the child-process pipe the
// PyTorch comparison talks through, and the timing helper.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "apps/bench_cases.h"
#include "apps/child_process.h"
#include "core/norma.h"
#include "core/profiler.h"

using namespace norma;

namespace {
const profiler::Entry* find(const std::vector<profiler::Entry>& es, const std::string& name) {
  for (const profiler::Entry& e : es)
    if (e.name == name) return &e;
  return nullptr;
}
}  // namespace

TEST_CASE("bench: the profiler charges forward and backward time to each op's name") {
  Generator gen(1);
  Tensor x = randn({8, 3, 8, 8}, &gen), w = randn({4, 3, 3, 3}, &gen).requires_grad_();
  profiler::start();
  Tensor y = relu(conv2d(x, w, Tensor(), 1, 1));
  sum(y).backward();
  profiler::stop();
  const std::vector<profiler::Entry> es = profiler::entries();
  const profiler::Entry* conv = find(es, "conv2d");
  REQUIRE(conv != nullptr);
  CHECK(conv->forward_calls == 1);
  CHECK(conv->backward_calls == 1);
  CHECK(conv->forward_s > 0);
  CHECK(conv->backward_s > 0);
  REQUIRE(find(es, "relu") != nullptr);
  CHECK(find(es, "relu")->backward_calls == 1);
  CHECK(find(es, "accumulate_grad") != nullptr);
  // Sorted by total time, largest first.
  for (size_t i = 1; i < es.size(); ++i)
    CHECK(es[i - 1].forward_s + es[i - 1].backward_s >= es[i].forward_s + es[i].backward_s);

  // Off: nothing more is counted.
  relu(conv2d(x, w, Tensor(), 1, 1));
  CHECK(find(profiler::entries(), "conv2d")->forward_calls == 1);
}

TEST_CASE("bench: a child process answers line by line in the environment it was given") {
  setenv("NORMA_TEST_DROPPED", "1", 1);
  apps::ChildProcess child({"/bin/sh", "-c", "echo \"${NORMA_TEST_SET}-${NORMA_TEST_DROPPED:-unset}\"; cat"},
                           apps::environment_with({"NORMA_TEST_SET=yes"}, {"NORMA_TEST_DROPPED"}));
  unsetenv("NORMA_TEST_DROPPED");
  CHECK(child.read_line() == "yes-unset");
  child.write_line("case sgemm 1024^3");
  CHECK(child.read_line() == "case sgemm 1024^3");
}

TEST_CASE("bench: a child that exits without answering is an error naming it") {
  apps::ChildProcess child({"/bin/true"}, apps::environment_with({}, {}));
  CHECK_THROWS_WITH_AS(child.read_line(), doctest::Contains("/bin/true exited without answering"), Error);
}

TEST_CASE("bench: the case list has every figure of the issue, each name once") {
  std::vector<std::string> names;
  for (const apps::BenchCase& c : apps::bench_cases()) names.push_back(c.name);
  for (const char* want : {"mlp-bn train b60", "lenet-bn infer b128", "resnet20-bn train b128", "resnet20-gn infer b128",
                           "sgemm 4096^3", "conv2d 3x3 64->64 (128,64,32,32) fwd+bwd",
                           "groupnorm(32) (128,64,32,32) fwd+bwd", "rmsnorm (8192,1024) fwd+bwd"})
    CHECK(std::count(names.begin(), names.end(), want) == 1);
  std::sort(names.begin(), names.end());
  CHECK(std::adjacent_find(names.begin(), names.end()) == names.end());
}

TEST_CASE("bench: median_seconds times what it runs") {
  int calls = 0;
  const double s = apps::median_seconds([&] { ++calls; }, 3);
  CHECK(s >= 0);
  CHECK(calls >= 2 + 3);  // warm-up, calibration, three timed runs (each of one or more iterations)
}
