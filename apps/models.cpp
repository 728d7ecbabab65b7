// norma models: the built-in models, their parameter counts (with BatchNorm, 10 classes), their
// input and the norms they accept (those the factory can build for every layer of the model).
#include <cstdio>
#include <memory>

#include "apps/commands.h"
#include "core/error.h"
#include "layers/resnet/models.h"

namespace norma::apps {

namespace {
// 1234567 -> "1,234,567"
std::string thousands(int64_t n) {
  std::string s = std::to_string(n);
  for (int i = int(s.size()) - 3; i > 0; i -= 3) s.insert(size_t(i), ",");
  return s;
}
}  // namespace

void add_models_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("models", "List the built-in models with their parameter counts and accepted norms");
  cmd->callback([] {
    std::printf("%-18s %11s  %-12s %-40s %s\n", "model", "parameters", "input", "norms (--norm)", "description");
    for (const nn::ModelInfo& info : nn::model_infos()) {
      const int64_t params = nn::make_model(info.name, nn::NormConfig{"bn"}, 10)->num_parameters();
      std::string norms;
      for (const std::string& kind : nn::norm_kinds()) {
        try {
          nn::make_model(info.name, nn::NormConfig{kind}, 10);
          norms += (norms.empty() ? "" : ",") + kind;
        } catch (const Error&) {  // e.g. `in` has no form for the [N, C] features of an mlp
        }
      }
      std::printf("%-18s %11s  %-12s %-40s %s\n", info.name.c_str(), thousands(params).c_str(),
                  shape_str(info.input_shape).c_str(), norms.c_str(), info.description.c_str());
    }
    std::printf("\nparameters: with --norm bn and 10 classes. Train one with: norma train --model NAME --norm KIND\n");
  });
}

}  // namespace norma::apps
