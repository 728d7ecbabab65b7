#include "apps/run_dir.h"

#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "data/io.h"
#include "layers/resnet/models.h"

namespace norma::apps {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {
constexpr const char* kModelFormat = "norma-model";
constexpr const char* kCheckpointFormat = "norma-checkpoint";
const std::string kModelPrefix = "model.", kOptimizerPrefix = "optimizer.";

const std::string& need(const nn::Metadata& meta, const std::string& key, const std::string& path) {
  auto it = meta.find(key);
  NORMA_CHECK(it != meta.end(), path, ": not a model saved by norma train (no '", key,
              "' in its metadata; expected a model.safetensors or last.ckpt of a run)");
  return it->second;
}

// Parses a metadata value as JSON, naming the file and key when it is not what is expected.
json parse(const nn::Metadata& meta, const std::string& key, const std::string& path) {
  try {
    return json::parse(need(meta, key, path));
  } catch (const json::exception& e) {
    throw Error(path + ": metadata '" + key + "' is not valid JSON: " + e.what());
  }
}

template <typename T>
T get(const nn::Metadata& meta, const std::string& key, const std::string& path) {
  json j = parse(meta, key, path);
  try {
    return j.get<T>();
  } catch (const json::exception& e) {
    throw Error(path + ": metadata '" + key + "' has an unexpected value " + j.dump());
  }
}
}  // namespace

nn::Metadata ModelSpec::metadata() const {
  return {{"format", kModelFormat},
          {"model", model},
          {"norm", norm.kind},
          {"norm_groups", std::to_string(norm.groups)},
          {"ghost_batch_size", std::to_string(norm.ghost_batch_size)},
          {"data", data},
          {"classes", json(class_names).dump()},
          {"num_classes", std::to_string(class_names.size())},
          {"input_shape", json({input.channels, input.height, input.width}).dump()},
          {"mean", json(mean).dump()},
          {"std", json(std).dump()},
          {"batch_size", std::to_string(batch_size)},
          {"norma_version", NORMA_VERSION}};
}

ModelSpec ModelSpec::from_metadata(const nn::Metadata& meta, const std::string& path) {
  ModelSpec s;
  s.model = need(meta, "model", path);
  s.norm.kind = need(meta, "norm", path);
  s.norm.groups = get<int64_t>(meta, "norm_groups", path);
  s.norm.ghost_batch_size = get<int64_t>(meta, "ghost_batch_size", path);
  s.data = need(meta, "data", path);
  s.class_names = get<std::vector<std::string>>(meta, "classes", path);
  auto shape = get<std::vector<int64_t>>(meta, "input_shape", path);
  NORMA_CHECK(shape.size() == 3, path, ": metadata 'input_shape' must be [C, H, W]");
  s.input = {shape[0], shape[1], shape[2]};
  s.mean = get<std::vector<float>>(meta, "mean", path);
  s.std = get<std::vector<float>>(meta, "std", path);
  s.batch_size = get<int64_t>(meta, "batch_size", path);
  NORMA_CHECK(s.class_names.size() >= 2 && s.mean.size() == size_t(s.input.channels) && s.std.size() == s.mean.size(),
              path, ": inconsistent metadata (", s.class_names.size(), " classes, ", s.mean.size(), " means for ",
              s.input.channels, " channels)");
  return s;
}

std::shared_ptr<nn::Module> build_model(const ModelSpec& spec) {
  return nn::make_model(spec.model, spec.norm, int64_t(spec.class_names.size()));
}

Checkpoint load_checkpoint(const std::string& path) {
  nn::Metadata meta;
  nn::StateDict all = nn::load_safetensors(path, &meta);
  NORMA_CHECK(meta.count("format") && meta.at("format") == kCheckpointFormat, path,
              ": not a checkpoint of norma train (a last.ckpt); a model.safetensors holds no optimizer state to resume");
  Checkpoint c;
  c.spec = ModelSpec::from_metadata(meta, path);
  c.state.step = get<int64_t>(meta, "step", path);
  c.state.epoch = get<int64_t>(meta, "epoch", path);
  c.state.position = get<int64_t>(meta, "position", path);
  c.state.seconds = get<double>(meta, "seconds", path);
  c.state.config = need(meta, "config", path);
  for (auto& [name, t] : all) {
    if (name.rfind(kModelPrefix, 0) == 0)
      c.model.emplace_back(name.substr(kModelPrefix.size()), t);
    else if (name.rfind(kOptimizerPrefix, 0) == 0)
      c.optimizer.emplace_back(name.substr(kOptimizerPrefix.size()), t);
    else
      throw Error(path + ": unexpected tensor '" + name + "' in a checkpoint (expected model.* and optimizer.*)");
  }
  return c;
}

TrainedModel load_trained_model(const std::string& path) {
  NORMA_CHECK(fs::exists(path), "cannot open ", path, ": no such file");
  nn::Metadata meta;
  nn::StateDict state = nn::load_safetensors(path, &meta);
  TrainedModel m;
  m.spec = ModelSpec::from_metadata(meta, path);
  if (meta.count("step")) m.step = get<int64_t>(meta, "step", path);
  if (meta.count("format") && meta.at("format") == kCheckpointFormat) {  // keep the model.* tensors
    nn::StateDict model;
    for (auto& [name, t] : state)
      if (name.rfind(kModelPrefix, 0) == 0) model.emplace_back(name.substr(kModelPrefix.size()), t);
    state = std::move(model);
  }
  m.module = build_model(m.spec);
  try {
    m.module->load_state_dict(state);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  m.module->eval();
  return m;
}

RunDir::RunDir(std::string path, bool write) : path_(std::move(path)), write_(write) {
  if (!write_) return;
  std::error_code ec;
  fs::create_directories(path_, ec);
  NORMA_CHECK(!ec && fs::is_directory(path_), "--out: cannot create the run directory ", path_, ": ", ec.message());
  // A run killed while writing a file leaves its temporary copy, NAME.tmp.PID
  // (core/atomic_file.h); the file itself is the previous complete one. Drop such leftovers.
  for (const auto& e : fs::directory_iterator(path_, ec)) {
    const std::string name = e.path().filename().string();
    for (const char* f : {"last.ckpt", "model.safetensors", "config.json", "metrics.jsonl"}) {
      const std::string prefix = std::string(f) + ".tmp.";
      if (name.rfind(prefix, 0) == 0 && name.size() > prefix.size() &&
          name.find_first_not_of("0123456789", prefix.size()) == std::string::npos)
        fs::remove(e.path(), ec);
    }
  }
}

std::string RunDir::file(const std::string& name) const { return (fs::path(path_) / name).string(); }

void RunDir::write_config(const std::string& text) const {
  if (!write_) return;
  const std::string s = text + "\n";
  data::write_file_atomic(file("config.json"), s.data(), s.size());
}

void RunDir::append_metrics(const std::string& line) const {
  if (!write_) return;
  const std::string path = file("metrics.jsonl");
  std::ofstream out(path, std::ios::app);
  out << line << "\n";
  out.flush();
  NORMA_CHECK(out.good(), "cannot write ", path);
}

void RunDir::truncate_metrics(int64_t step) const {
  if (!write_) return;
  const std::string path = file("metrics.jsonl");
  std::ifstream in(path);
  if (!in) return;
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) continue;  // the torn last line of a killed run
    if (j.contains("step") && j["step"].is_number_integer() && j["step"].get<int64_t>() > step) continue;
    kept += line + "\n";
  }
  data::write_file_atomic(path, kept.data(), kept.size());
}

void RunDir::save_model(const nn::Module& model, const ModelSpec& spec, int64_t step) const {
  if (!write_) return;
  nn::Metadata meta = spec.metadata();
  meta["step"] = std::to_string(step);
  nn::save_safetensors(file("model.safetensors"), model.state_dict(), meta);
}

void RunDir::save_checkpoint(const nn::Module& model, const optim::Optimizer& opt, const ModelSpec& spec,
                             const RunState& state) const {
  if (!write_) return;
  nn::StateDict all;
  for (auto& [name, t] : model.state_dict()) all.emplace_back(kModelPrefix + name, t);
  for (auto& [name, t] : opt.state_dict()) all.emplace_back(kOptimizerPrefix + name, t);
  nn::Metadata meta = spec.metadata();
  meta["format"] = kCheckpointFormat;
  meta["step"] = std::to_string(state.step);
  meta["epoch"] = std::to_string(state.epoch);
  meta["position"] = std::to_string(state.position);
  meta["seconds"] = json(state.seconds).dump();
  meta["config"] = state.config;
  nn::save_safetensors(file("last.ckpt"), all, meta);
}

std::string default_run_dir(const std::string& model, const std::string& norm, const std::string& data) {
  std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  std::string base = "runs/" + model + "-" + norm + "-" + data + "-" + stamp, path = base;
  for (int k = 2; fs::exists(path); ++k) path = base + "-" + std::to_string(k);
  return path;
}

}  // namespace norma::apps
