// norma experiment NAME: re-runs a published claim about normalization on real data and writes
// its results, figures and report.md (apps/experiments/experiment.h has the machinery, each
// apps/experiments/<name>.cpp one experiment). Finished runs are kept under <out>/runs/, so an
// interrupted experiment started again repeats only what had not finished.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "apps/commands.h"
#include "apps/experiments/experiment.h"
#include "core/error.h"
#include "core/parallel.h"

namespace norma::apps {

namespace {
struct ExperimentFlags {
  std::string name, out, data_dir;
  bool list = false, quick = false;
  int seeds = 0, threads = 0;
};

std::string experiment_names() {
  std::string names;
  for (const auto& e : experiments::all_experiments()) names += (names.empty() ? "" : ", ") + e.name;
  return names;
}

void list_experiments() {
  for (const auto& e : experiments::all_experiments())
    std::cout << e.name << ": " << e.summary << "\n  " << e.description << "\n\n";
  std::cout << "Run one with: norma experiment NAME [--quick] [--seeds N] [--threads T] [--out DIR]\n";
}
}  // namespace

void add_experiment_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("experiment", "Re-run a published normalization claim: results, figures, report.md");
  auto f = std::make_shared<ExperimentFlags>();
  cmd->add_option("name", f->name, "the experiment (--list describes them)");
  cmd->add_flag("--list", f->list, "describe every experiment");
  cmd->add_flag("--quick", f->quick, "a shortened schedule of a few minutes (a smoke run; docs cite full runs)");
  cmd->add_option("--seeds", f->seeds, "seeds per setting (default: the experiment's own)");
  cmd->add_option("--threads", f->threads, "OpenMP/OpenBLAS threads (0: default)")->capture_default_str();
  cmd->add_option("--out", f->out, "output directory (default: runs/experiments/NAME)");
  cmd->add_option("--data-dir", f->data_dir, "where the data sets live (default: $NORMA_DATA, else ./data)");

  cmd->callback([f] {
    if (f->list) return list_experiments();
    NORMA_CHECK(!f->name.empty(), "norma experiment: name an experiment (", experiment_names(),
                "), or --list to describe them");
    const experiments::Experiment* found = nullptr;
    for (const auto& e : experiments::all_experiments())
      if (e.name == f->name) found = &e;
    NORMA_CHECK(found, "norma experiment: unknown experiment '", f->name, "'; the experiments are ", experiment_names(),
                " (norma experiment --list describes them)");
    NORMA_CHECK(f->seeds >= 0, "--seeds: expected a count >= 1, got ", f->seeds);
    NORMA_CHECK(f->threads >= 0, "--threads: expected >= 0, got ", f->threads);

    experiments::Context ctx;
    ctx.name = found->name;
    ctx.out = f->out.empty() ? "runs/experiments/" + found->name : f->out;
    ctx.data_dir = f->data_dir, ctx.quick = f->quick, ctx.seeds = f->seeds, ctx.threads = f->threads;
    ctx.log = &std::cout;
    if (ctx.threads > 0) set_num_threads(ctx.threads);
    std::filesystem::create_directories(ctx.out);
    std::cout << "norma experiment " << ctx.name << (ctx.quick ? " (quick)" : "") << ": " << found->summary
              << "\n  output: " << ctx.out << " (finished runs in " << ctx.out << "/runs are not repeated)"
              << std::endl;
    const auto start = std::chrono::steady_clock::now();
    experiments::Report report = found->run(ctx);
    experiments::write_report(ctx, report);
    char took[64];
    std::snprintf(took, sizeof took, "%.1f",
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    std::cout << "done in " << took << " s\n";
  });
}

}  // namespace norma::apps
