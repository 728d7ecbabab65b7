// norma eval --checkpoint F [--data D]: loss, accuracy, per-class accuracy and the confusion
// matrix of a trained model on a test set.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>

#include "apps/commands.h"
#include "apps/datasets.h"
#include "apps/inference.h"
#include "apps/run_dir.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/shape.h"
#include "data/io.h"

namespace norma::apps {

namespace {
std::string format(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

void print_report(const EvalResult& r, const std::vector<std::string>& classes, std::ostream& out) {
  const int64_t C = r.num_classes;
  int64_t right = 0;
  for (int64_t c = 0; c < C; ++c) right += r.confusion[size_t(c * C + c)];
  out << "loss " << format("%.4f", r.loss) << "  accuracy " << format("%.2f%%", 100.0 * r.accuracy) << " (" << right
      << "/" << r.count << ")\n\nper-class accuracy:\n";
  size_t name_width = 0;
  for (size_t c = 0; c < classes.size(); ++c)
    if (classes[c] != std::to_string(c)) name_width = std::max(name_width, classes[c].size());
  for (int64_t c = 0; c < C; ++c) {
    int64_t total = 0;
    for (int64_t j = 0; j < C; ++j) total += r.confusion[size_t(c * C + j)];
    const double acc = r.class_accuracy(c);
    char line[256];
    // The name, unless it is the index (MNIST's digits).
    const std::string name = classes[size_t(c)] == std::to_string(c) ? std::string() : classes[size_t(c)];
    std::snprintf(line, sizeof line, "  %3lld %-*s %7s  (%lld/%lld)\n", (long long)c, int(name_width), name.c_str(), std::isnan(acc) ? "-" : format("%.2f%%", 100.0 * acc).c_str(),
                  (long long)r.confusion[size_t(c * C + c)], (long long)total);
    out << line;
  }
  // Columns as wide as the largest count; headed by class indices (the rows name them).
  int64_t most = 0;
  for (int64_t v : r.confusion) most = std::max(most, v);
  const int w = std::max<int>(3, int(std::to_string(most).size())) + 1;
  out << "\nconfusion matrix (rows: true class, columns: predicted class):\n     ";
  for (int64_t j = 0; j < C; ++j) out << std::string(size_t(w) - std::to_string(j).size(), ' ') << j;
  out << "\n";
  for (int64_t c = 0; c < C; ++c) {
    char head[32];
    std::snprintf(head, sizeof head, "  %3lld", (long long)c);
    out << head;
    for (int64_t j = 0; j < C; ++j) {
      std::string v = std::to_string(r.confusion[size_t(c * C + j)]);
      out << std::string(size_t(w) - v.size(), ' ') << v;
    }
    out << "\n";
  }
}
}  // namespace

EvalResult eval_checkpoint(const std::string& checkpoint, const std::string& data, const std::string& data_dir,
                           int64_t batch_size, std::ostream& out) {
  NORMA_CHECK(batch_size >= 0, "--batch-size must be at least 1 (or 0: the run's), got ", batch_size);
  TrainedModel m = load_trained_model(checkpoint);
  const DataSpec spec = parse_data_spec(data.empty() ? m.spec.data : data);
  const data::ImageShape& in = m.spec.input;
  if (spec.builtin()) {
    const data::ImageShape s = builtin_shape(spec.name);
    NORMA_CHECK(s.channels == in.channels && s.height == in.height && s.width == in.width, "--data ", spec.str(), " has ",
                shape_str({s.channels, s.height, s.width}), " images; the model of ", checkpoint, " takes ",
                shape_str({in.channels, in.height, in.width}));
  }
  LoadedData d = load_data(spec, data::resolve_data_dir(data_dir), in, /*train=*/false, out, m.spec.mean, m.spec.std);
  NORMA_CHECK(d.class_names.size() == m.spec.class_names.size(), "--data ", spec.str(), " has ", d.class_names.size(),
              " classes; the model of ", checkpoint, " has ", m.spec.class_names.size());
  // Normalized as in training, whatever the data: with the statistics saved in the model.
  const data::Transforms transforms{std::make_shared<data::Normalize>(m.spec.mean, m.spec.std)};
  out << "model: " << m.spec.model << " + " << m.spec.norm.kind << ", trained on " << m.spec.data << " (" << checkpoint
      << ", step " << m.step << ")\n"
      << "data: " << spec.str() << " test set, " << d.test->size() << " images\n";
  EvalResult r = evaluate(*m.module, d.test, transforms, batch_size > 0 ? batch_size : m.spec.batch_size);
  print_report(r, d.class_names, out);
  return r;
}

void add_eval_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "Evaluate a trained model: loss, accuracy, per-class accuracy, confusion matrix");
  struct Options {
    std::string checkpoint, data, data_dir;
    int64_t batch_size = 0;
    int threads = 0;
  };
  auto o = std::make_shared<Options>();
  cmd->add_option("--checkpoint", o->checkpoint, "a run's model.safetensors or last.ckpt")->required();
  cmd->add_option("--data", o->data, "mnist, fashion-mnist, cifar10 or folder:PATH (default: the model's)");
  cmd->add_option("--data-dir", o->data_dir, "where the built-in data sets live (default: $NORMA_DATA, else ./data)");
  cmd->add_option("--batch-size", o->batch_size, "images per batch (default: the run's)");
  cmd->add_option("--threads", o->threads, "OpenMP/OpenBLAS threads (0: default)");
  cmd->callback([o] {
    NORMA_CHECK(o->threads >= 0, "--threads must be >= 0 (0: the default), got ", o->threads);
    if (o->threads > 0) set_num_threads(o->threads);
    eval_checkpoint(o->checkpoint, o->data, o->data_dir, o->batch_size, std::cout);
  });
}

}  // namespace norma::apps
