// norma bench: written in the conv/pool work (this file is replaced there).
#include "apps/commands.h"

namespace norma::apps {
void add_bench_command(CLI::App& app) { app.add_subcommand("bench", "Benchmarks (in progress)"); }
}  // namespace norma::apps
