// norma export-models DIR [--norm bn] [--seed 0] [--model NAME ...]: writes each built-in
// model's freshly initialised state_dict to DIR/<model>.safetensors (layers/checkpoint.h), the
// files that scripts/check_twins.py loads into the PyTorch twins with strict=True.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <vector>

#include "apps/commands.h"
#include "core/norma.h"
#include "layers/checkpoint.h"
#include "layers/resnet/models.h"

namespace norma::apps {
namespace {

struct ExportOptions {
  std::string dir;
  nn::NormConfig norm;
  uint64_t seed = 0;
  std::vector<std::string> models;  // empty: all
};

void export_models(const ExportOptions& o) {
  std::filesystem::create_directories(o.dir);
  const std::vector<std::string> names = o.models.empty() ? nn::model_names() : o.models;
  int written = 0;
  for (const auto& name : names) {
    manual_seed(o.seed);  // each model's initialisation depends on the seed only, not on the order
    std::shared_ptr<nn::Module> m;
    try {
      m = nn::make_model(name, o.norm);
    } catch (const Error& e) {
      // mlp has no spatial dims for `in`: skip it when exporting every model, fail when asked for.
      if (!o.models.empty()) throw;
      std::printf("%-18s skipped: %s\n", name.c_str(), e.what());
      continue;
    }
    const std::string path = (std::filesystem::path(o.dir) / (name + ".safetensors")).string();
    nn::save(*m, path, {{"model", name}, {"norm", o.norm.kind}, {"seed", std::to_string(o.seed)}});
    std::printf("%-18s %9lld parameters, %3zu tensors -> %s\n", name.c_str(), (long long)m->num_parameters(),
                m->state_dict().size(), path.c_str());
    ++written;
  }
  std::printf("%d checkpoints written (norm %s, seed %llu)\n", written, o.norm.kind.c_str(),
              (unsigned long long)o.seed);
}

}  // namespace

void add_export_models_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("export-models",
                                 "Write every built-in model's initial state_dict to DIR/<model>.safetensors");
  auto o = std::make_shared<ExportOptions>();
  cmd->add_option("dir", o->dir, "output directory (created if missing)")->required();
  cmd->add_option("--norm", o->norm.kind, "normalization of every model")
      ->capture_default_str()
      ->check(CLI::IsMember(nn::norm_kinds()));
  cmd->add_option("--seed", o->seed, "random seed of the initialisation")->capture_default_str();
  cmd->add_option("--model", o->models, "only these models (repeatable; default: all)")
      ->check(CLI::IsMember(nn::model_names()));
  cmd->callback([o] { export_models(*o); });
}

}  // namespace norma::apps
