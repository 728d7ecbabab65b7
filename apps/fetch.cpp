// norma fetch mnist|fashion-mnist|cifar10 [--data-dir D]: puts a data set in D/<name>/ and
// verifies it (data/fetch.h); running it again only re-verifies.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>

#include "apps/commands.h"
#include "data/fetch.h"
#include "data/io.h"

namespace norma::apps {

void add_fetch_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("fetch", "Download and verify a data set (mnist, fashion-mnist, cifar10)");
  auto dataset = std::make_shared<std::string>();
  auto data_dir = std::make_shared<std::string>();
  cmd->add_option("dataset", *dataset, "the data set")->required()->check(CLI::IsMember(data::fetchable_datasets()));
  cmd->add_option("--data-dir", *data_dir, "data directory (default: $NORMA_DATA, else ./data)");
  cmd->callback([dataset, data_dir] {
    const auto start = std::chrono::steady_clock::now();
    data::fetch(*dataset, data::resolve_data_dir(*data_dir), std::cout);
    std::printf("%s: done in %.1f s\n", dataset->c_str(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  });
}

}  // namespace norma::apps
