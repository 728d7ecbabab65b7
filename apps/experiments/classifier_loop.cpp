#include "apps/experiments/classifier_loop.h"

#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>

#include "apps/datasets.h"
#include "apps/training.h"
#include "core/norma.h"
#include "data/io.h"
#include "data/loader.h"
#include "optim/sgd.h"

namespace norma::apps::experiments {
namespace {
// Seed-stream keys, as apps/training.cpp's: the weights, and the default generator of each step.
constexpr uint64_t kInitKey = 0x696e6974ULL << 32;
constexpr uint64_t kStepKey = 0x73746570ULL << 32;
}  // namespace

uint64_t init_seed(uint64_t seed) { return data::derive_seed(seed, kInitKey); }

std::string strf(const char* fmt, ...) {
  // Two passes: the first measures, the second writes (a fixed buffer cut long setup texts short).
  va_list args, again;
  va_start(args, fmt);
  va_copy(again, args);
  const int n = std::vsnprintf(nullptr, 0, fmt, args);
  va_end(args);
  std::string out(n > 0 ? size_t(n) : 0, '\0');
  if (n > 0) std::vsnprintf(out.data(), out.size() + 1, fmt, again);
  va_end(again);
  return out;
}

namespace {
ClassifierData load_classifier_data(const Context& ctx, const std::string& name, const data::ImageShape& shape,
                                    bool augment) {
  LoadedData ld = load_data(parse_data_spec(name), data::resolve_data_dir(ctx.data_dir), shape, /*train=*/true,
                            *ctx.log);
  ClassifierData d;
  d.train = ld.train, d.test = ld.test;
  d.train_transforms = train_transforms(parse_data_spec(name), ld, augment);
  d.test_transforms = eval_transforms(ld);
  return d;
}
}  // namespace

ClassifierData load_mnist(const Context& ctx) { return load_classifier_data(ctx, "mnist", {1, 28, 28}, false); }
ClassifierData load_cifar10(const Context& ctx, bool augment) {
  return load_classifier_data(ctx, "cifar10", {3, 32, 32}, augment);
}

LoopResult train_classifier(nn::Module& model, const ClassifierData& d, const LoopOptions& o, std::ostream* log) {
  NORMA_CHECK(o.batch_size >= 1 && o.batch_size <= d.train->size(), "train_classifier: batch size ", o.batch_size,
              " for ", d.train->size(), " training images");
  data::LoaderOptions lo;
  lo.batch_size = o.batch_size, lo.seed = o.seed, lo.drop_last = true, lo.transforms = d.train_transforms;
  data::DataLoader loader(d.train, lo);
  optim::SGD opt(weight_decay_groups(model), o.lr, o.momentum, /*dampening=*/0, o.weight_decay, o.nesterov);
  model.train();
  LoopResult r;
  auto start = std::chrono::steady_clock::now();
  const int64_t per_epoch = loader.num_batches();
  const int64_t total = o.max_steps > 0 ? std::min(o.max_steps, o.epochs * per_epoch) : o.epochs * per_epoch;
  // The hooks' time is not training time: `start` moves forward by it.
  auto hook = [&](const auto& f, int64_t arg) {
    const auto paused = std::chrono::steady_clock::now();
    f(arg);
    model.train();
    start += std::chrono::steady_clock::now() - paused;
  };
  if (o.after_step) hook(o.after_step, 0);
  for (int64_t epoch = 0; r.steps < total; ++epoch) {
    loader.start_epoch(epoch);
    double loss_sum = 0;
    int64_t n = 0, right = 0, seen = 0;
    for (data::Batch b; r.steps < total && loader.next(b);) {
      manual_seed(data::derive_seed(o.seed, kStepKey + uint64_t(r.steps)));  // dropout's masks
      if (o.schedule) o.schedule->apply(opt, r.steps);
      Tensor logits = model(b.images);
      Tensor loss = cross_entropy(logits, b.labels, Reduction::Mean, o.label_smoothing);
      const double value = double(loss.item());
      const std::vector<int64_t> pred = predictions(logits);
      for (size_t i = 0; i < pred.size(); ++i) right += pred[i] == b.labels[i];
      seen += int64_t(pred.size());
      if (!(value <= o.max_loss)) {  // NaN fails every comparison
        r.diverged = true;
        if (log) *log << "  " << o.label << ": diverged at step " << r.steps + 1 << " (loss " << value << ")\n";
        break;
      }
      loss.backward();
      opt.step();
      opt.zero_grad();
      ++r.steps, loss_sum += value, ++n;
      r.losses.push_back(float(value));
      if (o.after_step) hook(o.after_step, r.steps);
    }
    if (r.diverged) break;
    r.train_loss = n ? loss_sum / double(n) : 0.0;
    r.train_accuracy = seen ? double(right) / double(seen) : 0.0;
    if (log) {
      char line[160];
      std::snprintf(line, sizeof line, "  %s: epoch %lld, step %lld/%lld, train loss %.4f, %.0f s\n", o.label.c_str(),
                    (long long)(epoch + 1), (long long)r.steps, (long long)total, r.train_loss,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      *log << line << std::flush;
    }
    if (o.after_epoch) hook(o.after_epoch, epoch + 1);  // evaluations are not training time
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

double test_accuracy(nn::Module& model, const ClassifierData& d, int64_t batch_size) {
  return evaluate(model, d.test, d.test_transforms, batch_size).accuracy;
}

data::Batch test_batch(const ClassifierData& d, int64_t count) {
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < std::min(count, d.test->size()); ++i) idx.push_back(i);
  return data::make_batch(*d.test, idx, d.test_transforms);
}

}  // namespace norma::apps::experiments
