// norma experiment: the machinery (cached runs, CSV, plots, report.md) and one smoke run of
// bn-mnist on a small synthetic MNIST look-alike, cut at 500 steps.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "apps/experiments/experiment.h"
#include "apps/experiments/train_run.h"
#include "core/norma.h"
#include "data_helpers.h"

using namespace norma;
using namespace norma_test;
namespace ex = norma::apps::experiments;

namespace {
// Class c: a bright bar on row 2c + 4 and column 2c + 5 over seeded noise, gzipped IDX files
// in data_dir/mnist (load_data takes gzipped files as present, so nothing is fetched).
void write_bars_mnist(const std::string& data_dir, int train_n, int test_n) {
  Generator gen(11);
  write_synthetic_mnist(data_dir, train_n, test_n, gen, [&](int c, int y, int x) {
    return y == 2 * c + 4 || x == 2 * c + 5 ? 200 : int(gen.randint(60));
  });
}

ex::Context context(const TempDir& dir, std::ostream& log) {
  ex::Context ctx;
  ctx.name = "test", ctx.out = dir / "out", ctx.log = &log;
  return ctx;
}
}  // namespace

TEST_CASE("experiments: cached_run runs a key once and keeps its result") {
  TempDir dir("exp_cache");
  std::ostringstream log;
  ex::Context ctx = context(dir, log);
  int calls = 0;
  auto run = [&] {
    ++calls;
    return nlohmann::json{{"accuracy", 0.5 + calls}};
  };
  CHECK(ex::cached_run(ctx, "a-lr0.1-seed0", run)["accuracy"] == 1.5);
  CHECK(fs::exists(dir / "out/runs/a-lr0.1-seed0.json"));
  CHECK(ex::cached_run(ctx, "a-lr0.1-seed0", run)["accuracy"] == 1.5);  // from the file, not run again
  CHECK(calls == 1);
  CHECK(ex::cached_run(ctx, "b", run)["accuracy"] == 2.5);  // another key runs
  CHECK(calls == 2);
  write_bytes(dir / "out/runs/c.json", "{\"half");  // a corrupt result is run again
  CHECK(ex::cached_run(ctx, "c", run)["accuracy"] == 3.5);
  CHECK_ERROR(ex::cached_run(ctx, "a/b", run), "run key");
}

TEST_CASE("experiments: write_csv quotes fields and checks row lengths") {
  TempDir dir("exp_csv");
  std::ostringstream log;
  ex::Context ctx = context(dir, log);
  ex::write_csv(ctx, "r.csv", {"name", "value"}, {{"a,b", "1"}, {"say \"hi\"", "2"}});
  CHECK(read_bytes(dir / "out/r.csv") == "name,value\n\"a,b\",1\n\"say \"\"hi\"\"\",2\n");
  CHECK_ERROR(ex::write_csv(ctx, "bad.csv", {"one", "two"}, {{"x"}}), "bad.csv");
}

TEST_CASE("experiments: the report holds setup, figures and the claims table") {
  TempDir dir("exp_report");
  std::ostringstream log;
  ex::Context ctx = context(dir, log);
  ex::Report r;
  r.title = "T", r.setup = "the setup", r.results = "the results", r.notes = "the notes";
  r.figures = {"fig"};
  r.claims = {{"x beats y", ex::Verdict::Pass, "0.9 vs 0.1"}, {"a | b", ex::Verdict::Fail, "no"},
              {"maybe", ex::Verdict::Inconclusive, "overlap"}};
  ex::write_report(ctx, r);
  const std::string md = read_bytes(dir / "out/report.md");
  CHECK(md.find("# T\n") == 0);
  CHECK(md.find("## Setup\n\nthe setup") != std::string::npos);
  CHECK(md.find("![fig](fig.png)") != std::string::npos);
  CHECK(md.find("| claim | verdict | evidence |\n| --- | --- | --- |\n") != std::string::npos);
  CHECK(md.find("| x beats y | **PASS** | 0.9 vs 0.1 |") != std::string::npos);
  CHECK(md.find("| a \\| b | **FAIL** | no |") != std::string::npos);  // a '|' does not break the table
  CHECK(md.find("| maybe | **INCONCLUSIVE** | overlap |") != std::string::npos);
  CHECK(log.str().find("PASS  x beats y") != std::string::npos);
}

TEST_CASE("experiments: render_plot writes the data and script, and the figures with gnuplot") {
  TempDir dir("exp_plot");
  std::ostringstream log;
  ex::Context ctx = context(dir, log);
  ex::Plot p{"acc", "accuracy", "steps", "acc", false, false, {}};
  p.series.push_back({"with band", {1, 2, 3}, {0.5, 0.6, 0.7}, {0.4, 0.5, 0.6}, {0.6, 0.7, 0.8}});
  p.series.push_back({"line", {1, 2, 3}, {0.1, NAN, 0.3}, {}, {}});
  const bool drawn = ex::render_plot(ctx, p);
  const std::string dat = read_bytes(dir / "out/acc.dat");
  CHECK(dat.find("1 0.5 0.4 0.6\n") != std::string::npos);
  CHECK(dat.find("2 ?\n") != std::string::npos);  // NaN: a gap
  CHECK(fs::exists(dir / "out/acc.gp"));
  if (drawn) {
    CHECK(fs::file_size(dir / "out/acc.png") > 1000);
    CHECK(read_bytes(dir / "out/acc.svg").find("<svg") != std::string::npos);
  } else {
    CHECK(log.str().find("gnuplot") != std::string::npos);
  }
  p.series[0].lo.pop_back();
  CHECK_ERROR(ex::render_plot(ctx, p), "same length");
}

TEST_CASE("experiments: the registry names each experiment once") {
  const auto& all = ex::all_experiments();
  REQUIRE(!all.empty());
  CHECK(all[0].name == "bn-mnist");
  for (size_t i = 0; i < all.size(); ++i) {
    CHECK(!all[i].summary.empty());
    CHECK(all[i].run);
    for (size_t j = 0; j < i; ++j) CHECK(all[i].name != all[j].name);
  }
}

TEST_CASE("experiments: bn-mnist smoke run puts BN ahead of no BN at step 500") {
  TempDir dir("exp_bn_mnist");
  write_bars_mnist(dir / "data", 1200, 500);
  std::ostringstream log;
  ex::Context ctx = context(dir, log);
  ctx.name = "bn-mnist", ctx.data_dir = dir / "data", ctx.quick = true, ctx.seeds = 1, ctx.max_steps = 500;
  // One thread: the mlp's matrices are small, and on a busy machine two threads spend the
  // step waiting for each other at every parallel region.
  const int threads = get_num_threads();
  set_num_threads(1);
  const ex::Experiment& e = ex::all_experiments()[0];
  ex::write_report(ctx, e.run(ctx));
  set_num_threads(threads);
  const std::string md = read_bytes(dir / "out/report.md");
  INFO(md);
  CHECK(md.find("| LR 0.1: with BN the net trains faster than without BN (test accuracy at steps 500-5k) | **PASS** |") !=
        std::string::npos);
  CHECK(md.find("| claim | verdict | evidence |") != std::string::npos);
  // The CSV agrees: at step 500 BN's test accuracy is far above no BN's (near chance).
  std::ifstream csv(dir / "out/accuracy.csv");
  double bn = -1, nobn = -1;
  for (std::string line; std::getline(csv, line);) {
    if (line.rfind("0.1,bn,0,500,", 0) == 0) bn = std::stod(line.substr(13));
    if (line.rfind("0.1,nobn,0,500,", 0) == 0) nobn = std::stod(line.substr(15));
  }
  CHECK(bn > 0.8);
  CHECK(nobn < 0.5);
  CHECK(fs::exists(dir / "out/runs/bn-lr0.1-seed0-steps500.json"));
  CHECK(fs::exists(dir / "out/percentiles.csv"));
}

TEST_CASE("experiments: train_run keeps the curves of a finished run and removes its directory") {
  TempDir dir("exp_train_run");
  write_bars_mnist(dir / "data", 600, 200);
  std::ostringstream log;
  ex::Context ctx = context(dir, log);
  ctx.data_dir = dir / "data";
  norma::apps::TrainOptions o;
  o.data = "mnist", o.model = "mlp", o.norm = "bn", o.epochs = 2, o.batch_size = 100, o.lr = 0.1;
  o.log_every = 2, o.threads = 1;
  const nlohmann::json r = ex::train_run(ctx, "mlp-curves", o);
  INFO(r.dump());
  CHECK_FALSE(r["diverged"].get<bool>());
  CHECK(r["steps"] == 12);  // 2 epochs of 6 batches
  CHECK(r["loss_step"] == nlohmann::json({2, 4, 6, 8, 10, 12}));
  CHECK(r["loss_epoch"] == nlohmann::json({1, 1, 1, 2, 2, 2}));
  CHECK(r["loss"].size() == 6);
  CHECK(r["eval_epoch"] == nlohmann::json({1, 2}));
  CHECK(r["test_accuracy_curve"].back() == r["test_accuracy"]);
  CHECK_FALSE(fs::exists(dir / "out/train/mlp-curves"));
  CHECK(fs::exists(dir / "out/runs/mlp-curves.json"));
}
