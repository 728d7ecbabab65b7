// `norma experiment`: the machinery every experiment shares.
//
// An experiment re-runs a published claim on real data. It is a function from a Context (where
// to write, quick or full, how many seeds) to a Report (setup, figures, a table of claims with
// PASS / FAIL / INCONCLUSIVE and the numbers behind each). Its work is split into independent
// runs (one training run, one measurement); each run's result is stored as JSON under
// <out>/runs/ the moment it finishes, so an interrupted experiment, started again, repeats
// only the runs that had not finished.
#pragma once
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace norma::apps::experiments {

struct Context {
  std::string name;       // the experiment's name, e.g. "bn-mnist"
  std::string out;        // its directory: runs/, the CSV/JSONL results, plots, report.md
  std::string data_dir;   // "": $NORMA_DATA, else ./data
  bool quick = false;     // a smoke run of a few minutes instead of the full schedule
  int seeds = 0;          // 0: the experiment's own default
  int threads = 0;        // 0: OpenMP's default
  std::ostream* log = nullptr;  // progress lines (never null once the command made it)
  // > 0: cut every training run at this many steps, shorter than --quick (the tests' smoke
  // runs). Experiments put it into their run keys, so cut runs are never mistaken for full ones.
  int64_t max_steps = 0;

  int seeds_or(int default_seeds) const { return seeds > 0 ? seeds : default_seeds; }
};

// Runs `run` unless <ctx.out>/runs/<key>.json exists, in which case its content is returned
// instead. A finished run's result is written atomically (temp file + rename), so a killed
// experiment leaves either the whole result or none. `key` is a file-name-safe string naming
// the run's settings, e.g. "bn-lr0.1-seed2".
nlohmann::json cached_run(const Context& ctx, const std::string& key, const std::function<nlohmann::json()>& run);

// Writes `rows` under `header` as CSV to <ctx.out>/<file>, atomically.
void write_csv(const Context& ctx, const std::string& file, const std::vector<std::string>& header,
               const std::vector<std::vector<std::string>>& rows);

// One line (or band) of a figure. lo/hi, when not empty, draw a shaded band around y
// (e.g. the 15th and 85th percentiles around the median).
struct Series {
  std::string title;
  std::vector<double> x, y;
  std::vector<double> lo, hi;
};

struct Plot {
  std::string file;  // stem: writes <file>.dat, <file>.gp, <file>.png and <file>.svg in ctx.out
  std::string title, xlabel, ylabel;
  bool logx = false, logy = false;
  std::vector<Series> series;
};

// Renders the plot with gnuplot (PNG and SVG). Without gnuplot it writes the data and script,
// says on ctx.log how to install it (apt-get install gnuplot-nox), and returns false.
bool render_plot(const Context& ctx, const Plot& plot);

enum class Verdict { Pass, Fail, Inconclusive };
const char* verdict_name(Verdict v);  // "PASS", "FAIL", "INCONCLUSIVE"

struct Claim {
  std::string claim;     // what the paper says, in one sentence
  Verdict verdict;
  std::string evidence;  // the measured numbers that decide it
};

struct Report {
  std::string title;                 // e.g. "BatchNorm on MNIST (Ioffe & Szegedy 2015, Fig. 1)"
  std::string setup;                 // markdown: model, data, optimizer, schedule, seeds, rules
  std::vector<std::string> figures;  // plot stems, shown in this order
  std::string results;               // markdown: tables of the measured numbers
  std::vector<Claim> claims;
  std::string notes;                 // markdown: caveats, controls, deviations
};

// Writes <ctx.out>/report.md (atomically) and prints a short summary (one line per claim) on
// ctx.log.
void write_report(const Context& ctx, const Report& report);

struct Experiment {
  std::string name;         // the command's argument, e.g. "bn-mnist"
  std::string summary;      // one line for --list
  std::string description;  // a paragraph for --list: model, data, schedule, what is claimed
  std::function<Report(const Context&)> run;
};

// Every experiment, in the order --list shows them (apps/experiments/registry.cpp).
const std::vector<Experiment>& all_experiments();

}  // namespace norma::apps::experiments
