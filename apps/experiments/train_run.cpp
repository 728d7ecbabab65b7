#include "apps/experiments/train_run.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <ostream>

#include "core/error.h"

namespace norma::apps::experiments {
namespace fs = std::filesystem;

namespace {

// The curves of a finished run from its metrics.jsonl: the training loss of every log line
// ("loss_step", "loss") and every evaluation ("eval_step", "eval_epoch", "test_accuracy_curve").
void add_curves(const fs::path& metrics, nlohmann::json& result) {
  std::ifstream in(metrics);
  nlohmann::json loss_step = nlohmann::json::array(), loss_epoch = nlohmann::json::array(),
                 loss = nlohmann::json::array();
  nlohmann::json eval_step = nlohmann::json::array(), eval_epoch = nlohmann::json::array(),
                 accuracy = nlohmann::json::array();
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json m = nlohmann::json::parse(line, nullptr, false);
    if (m.is_discarded() || !m.contains("step")) continue;
    if (m.contains("loss") && m["loss"].is_number()) loss_step.push_back(m["step"]), loss_epoch.push_back(m["epoch"]), loss.push_back(m["loss"]);
    if (m.contains("test_accuracy") && m["test_accuracy"].is_number())
      eval_step.push_back(m["step"]), eval_epoch.push_back(m["epoch"]), accuracy.push_back(m["test_accuracy"]);
  }
  result["loss_step"] = loss_step, result["loss_epoch"] = loss_epoch, result["loss"] = loss;
  result["eval_step"] = eval_step, result["eval_epoch"] = eval_epoch, result["test_accuracy_curve"] = accuracy;
}

}  // namespace

nlohmann::json train_run(const Context& ctx, const std::string& key, TrainOptions o) {
  return cached_run(ctx, key, [&] {
    const fs::path dir = fs::path(ctx.out) / "train" / key;
    o.out = dir.string();
    if (o.data_dir.empty()) o.data_dir = ctx.data_dir;
    if (fs::exists(dir / "last.ckpt")) {
      o.resume = (dir / "last.ckpt").string();
      *ctx.log << "  " << key << ": resuming " << o.resume << "\n";
    }
    std::ostream quiet(nullptr);  // train()'s progress bar and lines: discarded
    nlohmann::json result;
    try {
      TrainResult r = train(o, quiet);
      NORMA_CHECK(!r.interrupted, "interrupted at step ", r.steps, " of ", key,
                  "; run the experiment again to continue from there");
      result = {{"diverged", false}, {"test_accuracy", r.test.accuracy}, {"test_loss", r.test.loss},
                {"steps", r.steps}, {"seconds", r.seconds}};
    } catch (const Error& e) {
      const std::string what = e.what();
      if (what.find("training diverged") == std::string::npos) throw;
      result = {{"diverged", true}, {"message", what.substr(0, what.find(". "))}};
    }
    add_curves(dir / "metrics.jsonl", result);
    char line[256];
    if (result["diverged"].get<bool>())
      std::snprintf(line, sizeof line, "  %s: %s\n", key.c_str(), result["message"].get<std::string>().c_str());
    else
      std::snprintf(line, sizeof line, "  %s: test accuracy %.4f after %lld steps (%.0f s)\n", key.c_str(),
                    result["test_accuracy"].get<double>(), (long long)result["steps"].get<int64_t>(),
                    result["seconds"].get<double>());
    *ctx.log << line;
    ctx.log->flush();
    std::error_code ec;
    fs::remove_all(dir, ec);  // the checkpoints are not needed once the result is kept
    return result;
  });
}

}  // namespace norma::apps::experiments
