// Checking train's options before any work, and the settings a resumed run must share with
// its checkpoint.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "apps/datasets.h"
#include "apps/run_dir.h"
#include "apps/train_options.h"
#include "apps/training.h"
#include "core/error.h"
#include "layers/resnet/models.h"
#include "optim/schedule.h"

namespace norma::apps {
using json = nlohmann::ordered_json;

namespace {
std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// "batch_size" -> "--batch-size"
std::string flag(std::string key) {
  std::replace(key.begin(), key.end(), '_', '-');
  return "--" + key;
}

void check_member(const std::string& flag, const std::string& value, const std::vector<std::string>& valid) {
  NORMA_CHECK(std::find(valid.begin(), valid.end(), value) != valid.end(), "--", flag, ": unknown choice '", value,
              "' (valid: ", join(valid), ")");
}

json settings(const TrainOptions& o) {
  return {{"data", o.data},           {"model", o.model},           {"norm", o.norm},
          {"norm_groups", o.norm_groups}, {"ghost_batch", o.ghost_batch}, {"epochs", o.epochs},
          {"steps", o.steps},         {"batch_size", o.batch_size}, {"lr", o.lr},
          {"optimizer", o.optimizer}, {"momentum", o.momentum},     {"weight_decay", o.weight_decay},
          {"schedule", o.schedule},   {"warmup", o.warmup},         {"augment", o.augment},
          {"seed", o.seed}};
}

void assign(TrainOptions& o, const std::string& key, const json& v) {
  if (key == "data") v.get_to(o.data);
  else if (key == "model") v.get_to(o.model);
  else if (key == "norm") v.get_to(o.norm);
  else if (key == "norm_groups") v.get_to(o.norm_groups);
  else if (key == "ghost_batch") v.get_to(o.ghost_batch);
  else if (key == "epochs") v.get_to(o.epochs);
  else if (key == "steps") v.get_to(o.steps);
  else if (key == "batch_size") v.get_to(o.batch_size);
  else if (key == "lr") v.get_to(o.lr);
  else if (key == "optimizer") v.get_to(o.optimizer);
  else if (key == "momentum") v.get_to(o.momentum);
  else if (key == "weight_decay") v.get_to(o.weight_decay);
  else if (key == "schedule") v.get_to(o.schedule);
  else if (key == "warmup") v.get_to(o.warmup);
  else if (key == "augment") v.get_to(o.augment);
  else if (key == "seed") v.get_to(o.seed);
}

json parse_config(const std::string& text, const std::string& path) {
  json c = json::parse(text, nullptr, /*allow_exceptions=*/false);
  NORMA_CHECK(c.is_object(), path, ": the checkpoint's 'config' metadata is not a JSON object");
  for (const std::string& k : run_settings())
    NORMA_CHECK(c.contains(k), path, ": the checkpoint's config has no '", k, "' setting");
  return c;
}
}  // namespace

const std::vector<std::string>& run_settings() {
  static const std::vector<std::string> keys = [] {
    const json s = settings(TrainOptions{});
    std::vector<std::string> k;
    for (auto it = s.begin(); it != s.end(); ++it) k.push_back(it.key());
    return k;
  }();
  return keys;
}

std::string settings_json(const TrainOptions& o) { return settings(o).dump(); }

void check_options(const TrainOptions& o) {
  const DataSpec spec = parse_data_spec(o.data);
  check_member("model", o.model, nn::model_names());
  check_member("norm", o.norm, nn::norm_kinds());
  check_member("optimizer", o.optimizer, {"sgd", "adam", "adamw"});
  check_member("schedule", o.schedule, optim::schedule_names());
  NORMA_CHECK(o.batch_size >= 1, "--batch-size must be at least 1, got ", o.batch_size);
  NORMA_CHECK(std::isfinite(o.lr) && o.lr > 0, "--lr must be a positive number, got ", o.lr);
  NORMA_CHECK(o.steps >= 0, "--steps must be at least 1 (or 0: train whole --epochs), got ", o.steps);
  NORMA_CHECK(o.steps > 0 || o.epochs >= 1, "--epochs must be at least 1, got ", o.epochs);
  NORMA_CHECK(o.momentum >= 0 && o.momentum < 1, "--momentum must be in [0, 1), got ", o.momentum);
  NORMA_CHECK(std::isfinite(o.weight_decay) && o.weight_decay >= 0, "--weight-decay must be >= 0, got ", o.weight_decay);
  NORMA_CHECK(o.warmup >= 0, "--warmup must be >= 0 steps, got ", o.warmup);
  NORMA_CHECK(o.steps == 0 || o.schedule == "constant" || o.warmup < o.steps, "--warmup (", o.warmup,
              " steps) must be shorter than the run (--steps ", o.steps, ")");
  NORMA_CHECK(o.warmup == 0 || o.schedule != "onecycle", "--warmup: --schedule onecycle warms up by itself; use --warmup 0");
  NORMA_CHECK(o.norm_groups >= 1, "--norm-groups must be at least 1, got ", o.norm_groups);
  NORMA_CHECK(o.ghost_batch >= 1, "--ghost-batch must be at least 1, got ", o.ghost_batch);
  NORMA_CHECK(o.threads >= 0, "--threads must be >= 0 (0: the default), got ", o.threads);
  NORMA_CHECK(o.eval_every >= 0, "--eval-every must be >= 0 (0: at epoch ends only), got ", o.eval_every);
  NORMA_CHECK(o.checkpoint_every >= 0, "--checkpoint-every must be >= 0 (0: at epoch ends only), got ", o.checkpoint_every);
  NORMA_CHECK(o.log_every >= 1, "--log-every must be at least 1, got ", o.log_every);
  NORMA_CHECK(o.max_loss > 0, "--max-loss must be positive, got ", o.max_loss);
  NORMA_CHECK(o.stop_after >= 0, "train: stop_after must be >= 0, got ", o.stop_after);

  // The model must take the data's images (a folder's are resized to the model's input).
  const Shape& in = nn::model_info(o.model).input_shape;
  if (spec.builtin()) {
    const data::ImageShape s = builtin_shape(spec.name);
    const Shape have{s.channels, s.height, s.width};
    if (in != have) {
      std::vector<std::string> fit;
      for (const auto& m : nn::model_infos())
        if (m.input_shape == have) fit.push_back(m.name);
      throw Error("--model " + o.model + " takes " + shape_str(in) + " images, but --data " + o.data + " has " +
                  shape_str(have) + " (models for it: " + join(fit) + ")");
    }
  }
  // The norm must fit the model (e.g. `in` has no [N, C] form for the mlp's hidden layers).
  nn::NormConfig norm{o.norm, o.ghost_batch, o.norm_groups};
  try {
    nn::check_norm_config(norm);
    nn::make_model(o.model, norm, 10);
  } catch (const Error& e) {
    throw Error("--norm " + o.norm + " does not fit --model " + o.model + ": " + e.what());
  }
  if (!o.resume.empty())
    NORMA_CHECK(std::filesystem::is_regular_file(o.resume), "--resume: cannot open ", o.resume, ": no such file");
}

void settings_from_checkpoint(TrainOptions& o, const std::vector<std::string>& given) {
  NORMA_CHECK(std::filesystem::is_regular_file(o.resume), "--resume: cannot open ", o.resume, ": no such file");
  const json c = parse_config(load_checkpoint(o.resume).state.config, o.resume);
  for (const std::string& k : run_settings())
    if (std::find(given.begin(), given.end(), k) == given.end()) assign(o, k, c.at(k));
}

void check_resume_settings(const TrainOptions& o, const std::string& config, const std::string& path) {
  const json c = parse_config(config, path), mine = settings(o);
  std::vector<std::string> diff;
  for (const std::string& k : run_settings())
    if (c.at(k) != mine.at(k)) diff.push_back(flag(k) + " " + c.at(k).dump() + " (not " + mine.at(k).dump() + ")");
  NORMA_CHECK(diff.empty(), "--resume: ", path, " is a run with other settings: ", join(diff),
              "; a resumed run keeps its settings");
}

}  // namespace norma::apps
