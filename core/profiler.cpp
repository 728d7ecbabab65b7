#include "core/profiler.h"

#include <algorithm>
#include <chrono>
#include <unordered_map>

namespace norma::profiler {
namespace {
using Clock = std::chrono::steady_clock;
Clock::time_point g_last;
std::unordered_map<std::string, Entry> g_table;
int g_backward_depth = 0;
}  // namespace

bool g_enabled = false;

void start() {
  g_table.clear();
  g_enabled = true;
  mark();
}

void stop() { g_enabled = false; }

void mark() { g_last = Clock::now(); }

Quiet::Quiet() { ++g_backward_depth; }
Quiet::~Quiet() {
  if (--g_backward_depth == 0 && g_enabled) mark();
}

void on_record(const char* name) {
  if (g_backward_depth > 0) return;
  const Clock::time_point now = Clock::now();
  add(name, false, std::chrono::duration<double>(now - g_last).count());
  g_last = now;
}

void add(const char* name, bool backward, double seconds) {
  Entry& e = g_table[name];
  if (e.name.empty()) e.name = name;
  (backward ? e.backward_s : e.forward_s) += seconds;
  ++(backward ? e.backward_calls : e.forward_calls);
}

std::vector<Entry> entries() {
  std::vector<Entry> out;
  for (const auto& kv : g_table) out.push_back(kv.second);
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) {
    const double ta = a.forward_s + a.backward_s, tb = b.forward_s + b.backward_s;
    return ta != tb ? ta > tb : a.name < b.name;
  });
  return out;
}

}  // namespace norma::profiler
