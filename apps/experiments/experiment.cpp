// The machinery of apps/experiments/experiment.h: cached runs, CSV, gnuplot figures, report.md.
#include "apps/experiments/experiment.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"

namespace norma::apps::experiments {
namespace fs = std::filesystem;

namespace {

void write_text(const std::string& path, const std::string& text) {
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent);
  write_file_atomic(path, text.data(), text.size());
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180).
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

// A gnuplot string literal: double quotes, with backslashes and quotes escaped.
std::string gp_string(const std::string& s) {
  std::string q = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') q += '\\';
    q += c;
  }
  return q + "\"";
}

// A shell argument in single quotes.
std::string sh_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// A number for the .dat file; NaN and Inf become gnuplot's missing value "?".
std::string dat_number(double v) {
  if (!std::isfinite(v)) return "?";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// A markdown table cell: a '|' would end the cell, a line break the row.
std::string md_cell(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '|' ? std::string("\\|") : c == '\n' ? std::string(" ") : std::string(1, c);
  return out;
}

bool have_gnuplot() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

}  // namespace

nlohmann::json cached_run(const Context& ctx, const std::string& key, const std::function<nlohmann::json()>& run) {
  NORMA_CHECK(!key.empty() && key.find_first_of("/\\ ") == std::string::npos, "experiment ", ctx.name,
              ": run key '", key, "' must be a non-empty file name without slashes or spaces");
  const std::string path = (fs::path(ctx.out) / "runs" / (key + ".json")).string();
  if (fs::exists(path)) {
    nlohmann::json done = nlohmann::json::parse(read_text(path), nullptr, /*allow_exceptions=*/false);
    if (!done.is_discarded()) return done;
    // Unreadable (written by hand, or by another program): run it again rather than trust it.
  }
  nlohmann::json result = run();
  write_text(path, result.dump(1) + "\n");
  return result;
}

void write_csv(const Context& ctx, const std::string& file, const std::vector<std::string>& header,
               const std::vector<std::vector<std::string>>& rows) {
  std::ostringstream s;
  auto line = [&](const std::vector<std::string>& fields) {
    for (size_t i = 0; i < fields.size(); ++i) s << (i ? "," : "") << csv_field(fields[i]);
    s << "\n";
  };
  line(header);
  for (const auto& row : rows) {
    NORMA_CHECK(row.size() == header.size(), "write_csv ", file, ": a row has ", row.size(), " fields, the header ",
                header.size());
    line(row);
  }
  write_text((fs::path(ctx.out) / file).string(), s.str());
}

// The .dat file holds one block per series (gnuplot's `index`), columns x y [lo hi]. The script
// draws each band first (filledcurves between lo and hi, translucent), then the lines over it,
// once to PNG (640x420) and once to SVG.
bool render_plot(const Context& ctx, const Plot& plot) {
  NORMA_CHECK(!plot.series.empty(), "plot ", plot.file, ": no series");
  const fs::path stem = fs::path(ctx.out) / plot.file;
  std::ostringstream dat;
  for (size_t k = 0; k < plot.series.size(); ++k) {
    const Series& s = plot.series[k];
    const bool band = !s.lo.empty();
    NORMA_CHECK(s.x.size() == s.y.size() && (!band || (s.lo.size() == s.x.size() && s.hi.size() == s.x.size())),
                "plot ", plot.file, ", series '", s.title, "': x, y, lo and hi must have the same length");
    dat << "# " << s.title << "\n";
    for (size_t i = 0; i < s.x.size(); ++i) {
      dat << dat_number(s.x[i]) << " " << dat_number(s.y[i]);
      if (band) dat << " " << dat_number(s.lo[i]) << " " << dat_number(s.hi[i]);
      dat << "\n";
    }
    dat << "\n\n";
  }
  write_text(stem.string() + ".dat", dat.str());

  const std::string dat_name = plot.file + ".dat";  // gnuplot runs in ctx.out
  std::ostringstream gp;
  gp << "set datafile missing '?'\n"
     << "set title " << gp_string(plot.title) << "\nset xlabel " << gp_string(plot.xlabel) << "\nset ylabel "
     << gp_string(plot.ylabel) << "\nset key bottom right\nset grid\n";
  if (plot.logx) gp << "set logscale x\n";
  if (plot.logy) gp << "set logscale y\n";
  gp << "set style fill transparent solid 0.2 noborder\n";
  std::ostringstream cmd;
  for (size_t k = 0; k < plot.series.size(); ++k) {
    const Series& s = plot.series[k];
    const std::string color = " lc " + std::to_string(k + 1);
    if (!s.lo.empty())
      cmd << (cmd.tellp() > 0 ? ", " : "") << gp_string(dat_name) << " index " << k
          << " using 1:3:4 with filledcurves" << color << " notitle";
    cmd << (cmd.tellp() > 0 ? ", " : "") << gp_string(dat_name) << " index " << k << " using 1:2 with linespoints"
        << color << " pt 7 ps 0.5 lw 2 title " << gp_string(s.title);
  }
  gp << "set terminal pngcairo size 640,420 font 'sans,9'\nset output " << gp_string(plot.file + ".png") << "\nplot "
     << cmd.str() << "\nset terminal svg size 640,420 dynamic font 'sans,9'\nset output "
     << gp_string(plot.file + ".svg") << "\nreplot\nset output\n";
  write_text(stem.string() + ".gp", gp.str());

  if (!have_gnuplot()) {
    *ctx.log << "note: gnuplot is not installed, so " << stem.string()
             << ".png/.svg were not drawn (the data and script are there): apt-get install gnuplot-nox, then run "
             << "gnuplot " << plot.file << ".gp in " << ctx.out << "\n";
    return false;
  }
  const std::string run = "cd " + sh_quote(ctx.out) + " && gnuplot " + sh_quote(plot.file + ".gp") + " 2>&1";
  std::string output;
  if (FILE* p = ::popen(run.c_str(), "r")) {
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) output += buf;
    const int status = ::pclose(p);
    if (status == 0 && fs::exists(stem.string() + ".png")) return true;
  }
  *ctx.log << "warning: gnuplot failed on " << stem.string() << ".gp:\n" << output;
  return false;
}

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::Pass: return "PASS";
    case Verdict::Fail: return "FAIL";
    case Verdict::Inconclusive: return "INCONCLUSIVE";
  }
  return "?";
}

void write_report(const Context& ctx, const Report& report) {
  std::ostringstream md;
  md << "# " << report.title << "\n\n"
     << "Generated by `norma experiment " << ctx.name << (ctx.quick ? " --quick" : "")
     << (ctx.seeds > 0 ? " --seeds " + std::to_string(ctx.seeds) : "")
     << (ctx.max_steps > 0 ? "` with every run cut at " + std::to_string(ctx.max_steps) + " steps (a smoke run)"
                           : "`")
     << (ctx.quick || ctx.max_steps > 0 ? ": a shortened schedule, not the full run.\n\n" : ".\n\n");
  md << "## Setup\n\n" << report.setup << "\n\n";
  if (!report.figures.empty()) {
    md << "## Figures\n\n";
    for (const std::string& f : report.figures) md << "![" << f << "](" << f << ".png)\n\n";
  }
  md << "## Results\n\n" << report.results << "\n\n";
  md << "## Claims\n\n| claim | verdict | evidence |\n| --- | --- | --- |\n";
  for (const Claim& c : report.claims)
    md << "| " << md_cell(c.claim) << " | **" << verdict_name(c.verdict) << "** | " << md_cell(c.evidence) << " |\n";
  if (!report.notes.empty()) md << "\n## Notes\n\n" << report.notes << "\n";
  const std::string path = (fs::path(ctx.out) / "report.md").string();
  write_text(path, md.str());

  std::ostream& log = *ctx.log;
  log << "\n" << report.title << "\n";
  for (const Claim& c : report.claims) log << "  " << verdict_name(c.verdict) << "  " << c.claim << "\n";
  log << "report: " << path << "\n";
  log.flush();
}

}  // namespace norma::apps::experiments
