// Subcommands of the norma binary: each file defines add_<name>_command(app), which adds the
// subcommand and its callback.
#pragma once
#include <CLI/CLI.hpp>

namespace norma::apps {

void add_train_command(CLI::App& app);          // apps/train.cpp
void add_eval_command(CLI::App& app);           // apps/eval.cpp
void add_predict_command(CLI::App& app);        // apps/predict.cpp
void add_models_command(CLI::App& app);         // apps/models.cpp
void add_fetch_command(CLI::App& app);          // apps/fetch.cpp
void add_demo_command(CLI::App& app);           // apps/demo.cpp
void add_bench_command(CLI::App& app);          // apps/bench.cpp
void add_export_models_command(CLI::App& app);  // apps/export_models.cpp
void add_experiment_command(CLI::App& app);     // apps/experiment.cpp

inline void register_commands(CLI::App& app) {
  add_train_command(app);
  add_eval_command(app);
  add_predict_command(app);
  add_models_command(app);
  add_fetch_command(app);
  add_demo_command(app);
  add_bench_command(app);
  add_export_models_command(app);
  add_experiment_command(app);
}

}  // namespace norma::apps
