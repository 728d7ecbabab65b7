// norma: the command-line entry point. Each subcommand lives in its own file and registers
// itself here.
#include <CLI/CLI.hpp>
#include <iostream>

#include "apps/commands.h"
#include "core/blas_kernels.h"
#include "core/distributed.h"
#include "core/error.h"

int main(int argc, char** argv) {
  norma::use_best_blas_kernels(argv);  // may restart the program with faster GEMM kernels
  CLI::App app{"norma: a small deep-learning framework with every normalization layer"};
  app.set_version_flag("--version", std::string("norma ") + NORMA_VERSION);
  app.require_subcommand(1);
  norma::apps::register_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const norma::Error& e) {
    std::cerr << "norma: error" << (norma::dist::world_size() > 1 ? " (rank " + std::to_string(norma::dist::rank()) + ")" : "")
              << ": " << e.what() << "\n";
    norma::dist::after_error();  // under mpirun: stops every rank unless each has this error too
    return 1;
  }
  return 0;
}
