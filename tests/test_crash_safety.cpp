// Crash safety of `norma train`, on the real binary run as a child process: SIGKILL at random
// moments (some while a checkpoint is being written) never leaves an unloadable checkpoint,
// loses at most the steps since the last checkpoint, and the resumed run ends bit-identical to
// an uninterrupted one; Ctrl-C (SIGINT) checkpoints and says how to resume.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "apps/run_dir.h"
#include "core/norma.h"
#include "checkpoint_helpers.h"
#include "data_helpers.h"
#include "layers/checkpoint.h"
#include "process_helpers.h"

using namespace norma;
using namespace norma_test;
using Clock = std::chrono::steady_clock;

namespace {
constexpr int kSteps = 120;  // 10 epochs of 12 batches of 8

// The run: lenet + BatchNorm, a metrics line and a checkpoint after every step, one thread (the
// same threads in every piece, so that the resumed run's sums are the same).
std::vector<std::string> train_args(const TempDir& tmp, const std::string& out, bool resume, int checkpoint_every = 1) {
  std::vector<std::string> a = {NORMA_BINARY, "train", "--data-dir", tmp / "data", "--out", out, "--steps",
                                std::to_string(kSteps), "--batch-size", "8", "--seed", "3", "--threads", "1",
                                "--log-every", "1", "--checkpoint-every", std::to_string(checkpoint_every)};
  if (resume) a.insert(a.end(), {"--resume", out + "/last.ckpt"});
  return a;
}

// The lines of metrics.jsonl that parse (a killed run may leave its last line torn).
std::vector<nlohmann::json> metrics(const std::string& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_object()) lines.push_back(j);
  }
  return lines;
}

// The last training step logged (a line with a "loss"), or -1.
int64_t logged_step(const std::string& path) {
  int64_t step = -1;
  for (const auto& j : metrics(path))
    if (j.contains("loss") && j.contains("step")) step = std::max(step, j["step"].get<int64_t>());
  return step;
}

bool temp_file_in(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) return true;
  return false;
}

// Polls until `ready()` or the child exits (false) or 60 s pass (a failure).
template <class Ready>
bool wait_for(pid_t pid, Ready ready) {
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  for (int status = 0; Clock::now() < deadline;) {
    if (ready()) return true;
    if (exited(pid, status)) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  ::kill(pid, SIGKILL);
  wait_exit(pid);
  FAIL("the child did not get there in 60 s");
  return false;
}

// (step, value) of the training losses and the evaluations, in order: what a run computed.
std::vector<std::pair<int64_t, double>> losses(const std::string& path) {
  std::vector<std::pair<int64_t, double>> v;
  for (const auto& j : metrics(path))
    for (const char* key : {"loss", "test_loss"})
      if (j.contains(key)) v.emplace_back(j["step"].get<int64_t>(), j[key].get<double>());
  return v;
}

// Checkpoints only at epoch ends: they do not change the weights, and cost an fsync each.
void run_straight(const TempDir& tmp) {
  const int status = wait_exit(spawn(train_args(tmp, tmp / "straight", false, 0), tmp / "straight.log"));
  INFO(read_bytes(tmp / "straight.log"));
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
}
}  // namespace

TEST_CASE("crash safety: 20 SIGKILLs at random steps and inside checkpoint writes, each resumed, end bit-identical") {
  TempDir tmp("crash_kill");
  write_tiny_mnist(tmp / "data", 96, 20);
  run_straight(tmp);

  const std::string out = tmp / "cut", ckpt_path = out + "/last.ckpt", log = tmp / "cut.log";
  std::mt19937 rng(20261207);  // the kill points
  int kills = 0, in_write = 0;
  int64_t last_ckpt = -1;
  while (kills < 20) {
    const bool resume = fs::exists(ckpt_path);
    const int64_t from = resume ? apps::load_checkpoint(ckpt_path).state.step : 0;
    const pid_t pid = spawn(train_args(tmp, out, resume), log);
    // Lines after `from` that the killed run left are at most step from + 1 (checked below),
    // so waiting for from + 2 or later waits for this child's own progress.
    const int64_t target = from + 2 + int64_t(rng() % 3);
    const bool into_write = rng() % 2 == 0;
    CAPTURE(kills);
    CAPTURE(from);
    if (!wait_for(pid, [&] { return logged_step(out + "/metrics.jsonl") >= target; })) break;  // it finished
    if (into_write && !wait_for(pid, [&] { return temp_file_in(out); })) break;
    ::kill(pid, SIGKILL);
    const int status = wait_exit(pid);
    REQUIRE(WIFSIGNALED(status));
    ++kills;
    in_write += temp_file_in(out);  // the kill left a temporary file: it landed inside a write

    // The latest complete checkpoint loads, never goes back, and is at most one step behind the
    // last step logged (a checkpoint follows every step's metrics line).
    REQUIRE(fs::exists(ckpt_path));
    apps::Checkpoint c = apps::load_checkpoint(ckpt_path);
    CHECK(c.state.step >= last_ckpt);
    CHECK(c.state.step >= logged_step(out + "/metrics.jsonl") - 1);
    last_ckpt = c.state.step;
    CHECK(apps::load_trained_model(out + "/model.safetensors").module->num_parameters() > 0);
  }
  CHECK(kills == 20);
  MESSAGE(kills << " kills, " << in_write << " inside a write (a temporary file left), last checkpoint at step "
                << last_ckpt << " of " << kSteps);

  // The last piece runs to the end (checkpoints at epoch ends are enough now); the temporary
  // files and the torn metrics line the kills left are gone.
  const int status = wait_exit(spawn(train_args(tmp, out, true, 0), log));
  INFO(read_bytes(log));
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  CHECK_FALSE(temp_file_in(out));
  check_same_tensors(tmp / "straight/model.safetensors", out + "/model.safetensors");
  check_same_tensors(tmp / "straight/last.ckpt", ckpt_path);  // the optimizer state too
  std::ifstream in(out + "/metrics.jsonl");
  size_t lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  CHECK(lines == metrics(out + "/metrics.jsonl").size());  // no torn line left
  CHECK(losses(out + "/metrics.jsonl") == losses(tmp / "straight/metrics.jsonl"));  // no step twice, none missing
}

TEST_CASE("crash safety: Ctrl-C finishes the step, checkpoints, says how to resume, and the resumed run ends identical") {
  TempDir tmp("crash_sigint");
  write_tiny_mnist(tmp / "data", 96, 20);
  run_straight(tmp);

  // No checkpoint but at epoch ends (every 12 steps): the one at Ctrl-C is the interrupt's own.
  const std::string out = tmp / "cut", log = tmp / "cut.log";
  const pid_t pid = spawn(train_args(tmp, out, false, /*checkpoint_every=*/0), log);
  REQUIRE(wait_for(pid, [&] { return logged_step(out + "/metrics.jsonl") >= 15; }));
  ::kill(pid, SIGINT);
  const int status = wait_exit(pid);
  const std::string said = read_bytes(log);
  INFO(said);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) != 0);
  const apps::Checkpoint c = apps::load_checkpoint(out + "/last.ckpt");
  CHECK(c.state.step >= 15);
  CHECK(c.state.step < kSteps);
  CHECK(c.state.step == logged_step(out + "/metrics.jsonl"));  // the step in progress was finished and kept
  const std::string at = "at step " + std::to_string(c.state.step);
  CHECK(said.find("stopped " + at + "; continue with: norma train --resume " + out + "/last.ckpt") != std::string::npos);
  CHECK(said.find("interrupted by Ctrl-C " + at + " (checkpoint saved)") != std::string::npos);

  const int resumed = wait_exit(spawn(train_args(tmp, out, true, 0), log));
  REQUIRE(WIFEXITED(resumed));
  REQUIRE(WEXITSTATUS(resumed) == 0);
  check_same_tensors(tmp / "straight/last.ckpt", out + "/last.ckpt");
  CHECK(losses(out + "/metrics.jsonl") == losses(tmp / "straight/metrics.jsonl"));
}
