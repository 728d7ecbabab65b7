// The training loop of `norma train`: data, model, optimizer and schedule from the options,
// then epochs of SGD steps with a progress bar, an evaluation after each epoch, metrics and
// checkpoints in the run directory (apps/run_dir.h says what goes there).
//
// Exact resume: a step's randomness is a function of (seed, step) only, the loader's batches of
// (seed, epoch, batch) and the LR of the step, so last.ckpt need hold nothing but the weights,
// the optimizer state and the position; a resumed run then takes the same steps bit for bit.
//
// Data parallel (under `mpirun -np K`, docs/distributed.md): --batch-size is the global batch;
// rank r takes its 1/K share of each (the loader's rank/world_size), the gradients are averaged
// over the ranks before each optimizer step (optim/data_parallel.h), and the loss and accuracy
// of a step are reduced before anything looks at them, so every rank decides alike (divergence,
// Ctrl-C). Rank 0 alone prints and writes the run directory. Setup failures that may touch one
// rank only (files, data) are agreed on (dist::agree): every rank stops with the same message.
#include "apps/training.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "apps/datasets.h"
#include "apps/progress.h"
#include "apps/resources.h"
#include "apps/run_dir.h"
#include "apps/train_options.h"
#include "core/anomaly.h"
#include "core/distributed.h"
#include "core/norma.h"
#include "data/io.h"
#include "data/loader.h"
#include "layers/resnet/models.h"
#include "optim/adam.h"
#include "optim/data_parallel.h"
#include "optim/schedule.h"
#include "optim/sgd.h"

namespace norma::apps {
namespace fs = std::filesystem;

std::vector<int64_t> predictions(const Tensor& logits) {
  const int64_t n = logits.shape()[0], c = logits.shape()[1];
  std::vector<float> z = logits.contiguous().to_vector();
  std::vector<int64_t> out(size_t(n), 0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 1; j < c; ++j)
      if (z[size_t(i * c + j)] > z[size_t(i * c + out[size_t(i)])]) out[size_t(i)] = j;
  return out;
}

std::vector<optim::ParamGroup> weight_decay_groups(const nn::Module& model) {
  std::vector<Tensor> decay, no_decay;
  for (const Tensor& p : model.parameters()) (p.dim() <= 1 ? no_decay : decay).push_back(p);
  std::vector<optim::ParamGroup> groups;
  if (!decay.empty()) groups.emplace_back(decay);
  if (!no_decay.empty()) groups.emplace_back(no_decay, optim::Options{{"weight_decay", 0.0}});
  return groups;
}

using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

namespace {
// Keys of the seed streams derived from --seed (the loader uses the epoch numbers).
constexpr uint64_t kInitKey = 0x696e6974ULL << 32;     // the initial weights
constexpr uint64_t kStepKey = 0x73746570ULL << 32;     // default generator of each step (dropout)

volatile std::sig_atomic_t g_interrupted = 0;
extern "C" void on_interrupt(int) {
  g_interrupted = 1;
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C stops at once
}

// Ctrl-C during train() asks the loop to checkpoint and stop; the old handler comes back after.
struct InterruptHandler {
  void (*previous)(int);
  InterruptHandler() : previous(std::signal(SIGINT, on_interrupt)) { g_interrupted = 0; }
  ~InterruptHandler() { std::signal(SIGINT, previous); }
};

std::unique_ptr<optim::Optimizer> make_optimizer(const TrainOptions& o, const nn::Module& model) {
  const std::vector<optim::ParamGroup> groups = weight_decay_groups(model);
  if (o.optimizer == "sgd")
    return std::make_unique<optim::SGD>(groups, o.lr, o.momentum, 0.0, o.weight_decay);
  if (o.optimizer == "adam")
    return std::make_unique<optim::Adam>(groups, o.lr, std::make_pair(o.momentum, 0.999), 1e-8, o.weight_decay);
  return std::make_unique<optim::AdamW>(groups, o.lr, std::make_pair(o.momentum, 0.999), 1e-8, o.weight_decay);
}

std::string describe_optimizer(const TrainOptions& o) {
  std::ostringstream s;
  s << (o.optimizer == "sgd" ? "SGD" : o.optimizer == "adam" ? "Adam" : "AdamW") << " lr " << o.lr
    << (o.optimizer == "sgd" ? " momentum " : " beta1 ") << o.momentum << " weight decay " << o.weight_decay;
  if (o.weight_decay > 0) s << " (none on norms and biases)";
  return s.str();
}

// Data parallel: every rank must hold the same weights; a mismatch is a bug, an error. The
// running statistics of bn and ghost are each rank's own (as under PyTorch's DDP): after the
// check, rank 0's are copied to every rank, so evaluation and checkpoints use rank 0's.
void check_replicas(const nn::Module& model, const std::string& norm, int64_t step) {
  if (dist::world_size() == 1) return;
  std::vector<Tensor> weights = model.parameters(), buffers;
  for (auto& [name, t] : model.named_buffers()) buffers.push_back(t);
  if (norm != "bn" && norm != "ghost") weights.insert(weights.end(), buffers.begin(), buffers.end());
  optim::check_identical(weights, "at step " + std::to_string(step) + ", the model's weights");
  optim::broadcast_tensors(buffers);
}

std::string percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", 100.0 * fraction);
  return buf;
}
}  // namespace

double EvalResult::class_accuracy(int64_t c) const {
  int64_t total = 0;
  for (int64_t j = 0; j < num_classes; ++j) total += confusion[size_t(c * num_classes + j)];
  return total ? double(confusion[size_t(c * num_classes + c)]) / double(total) : NAN;
}

EvalResult evaluate(nn::Module& model, std::shared_ptr<const data::Dataset> dataset, const data::Transforms& transforms,
                    int64_t batch_size) {
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  data::LoaderOptions lo;
  lo.batch_size = batch_size, lo.shuffle = false, lo.transforms = transforms;
  data::DataLoader loader(dataset, lo);
  loader.start_epoch(0);
  EvalResult r;
  r.num_classes = dataset->num_classes();
  r.confusion.assign(size_t(r.num_classes * r.num_classes), 0);
  double loss_sum = 0;
  int64_t right = 0, index = 0;
  for (data::Batch b; loader.next(b);) {
    if (index++ % dist::world_size() != dist::rank()) continue;  // data parallel: batches dealt round-robin
    Tensor logits = model(b.images);
    loss_sum += double(cross_entropy(logits, b.labels, Reduction::Sum).item());
    std::vector<int64_t> pred = predictions(logits);
    for (size_t i = 0; i < pred.size(); ++i) {
      right += pred[i] == b.labels[i];
      ++r.confusion[size_t(b.labels[i] * r.num_classes + pred[i])];
    }
    r.count += int64_t(pred.size());
  }
  model.train(was_training);
  if (dist::world_size() > 1) {  // the ranks' sums
    dist::allreduce_sum(&loss_sum, 1);
    dist::allreduce_sum(&right, 1);
    dist::allreduce_sum(&r.count, 1);
    dist::allreduce_sum(r.confusion.data(), int64_t(r.confusion.size()));
  }
  r.loss = r.count ? loss_sum / double(r.count) : 0.0;
  r.accuracy = r.count ? double(right) / double(r.count) : 0.0;
  return r;
}

TrainResult train(TrainOptions o, std::ostream& main_out, bool tty) {
  // Data parallel: K processes, rank 0 alone prints.
  const int K = dist::world_size();
  std::ostream null_out(nullptr);
  std::ostream& out = dist::is_main() ? main_out : null_out;

  // ---- 1. Everything that can be checked before any work ----
  DataSpec spec;
  const bool resuming = !o.resume.empty();
  Checkpoint ckpt;
  dist::agree([&] {
    check_options(o);
    NORMA_CHECK(o.batch_size % K == 0, "--batch-size ", o.batch_size, " is the global batch, shared equally by the ",
                K, " processes: it must be a multiple of ", K, " (e.g. ", (o.batch_size / K + 1) * K, ")");
    spec = parse_data_spec(o.data);
    if (resuming) {
      ckpt = load_checkpoint(o.resume);
      check_resume_settings(o, ckpt.state.config, o.resume);
      const json old = json::parse(ckpt.state.config, nullptr, false);
      const int64_t old_k = old.is_object() && old.contains("world_size") ? old["world_size"].get<int64_t>() : 1;
      NORMA_CHECK(old_k == K, "--resume: ", o.resume, " is a run of ", old_k, " process", (old_k > 1 ? "es" : ""),
                  " and continues only as one: ", (old_k > 1 ? "mpirun -np " + std::to_string(old_k) + " norma train ..."
                                                             : std::string("norma train without mpirun")),
                  " (this run has ", K, ")");
      if (o.out.empty()) o.out = fs::path(o.resume).parent_path().string();
      if (o.out.empty()) o.out = ".";
    }
    if (o.out.empty()) o.out = default_run_dir(o.model, o.norm, spec.short_name());
  });
  dist::broadcast(o.out);  // rank 0's: a default name holds the time, which may differ
  if (o.threads > 0) set_num_threads(o.threads);

  // ---- 2. Data, model, optimizer, schedule ----
  const Shape& in = nn::model_info(o.model).input_shape;
  const data::ImageShape shape{in[0], in[1], in[2]};
  const std::string data_dir = data::resolve_data_dir(o.data_dir);
  LoadedData d;
  // Rank 0 first (it may fetch a missing data set and makes the run directory), then the others.
  for (int turn = 0; turn < std::min(K, 2); ++turn)
    dist::agree([&] {
      if (dist::is_main() != (turn == 0)) return;
      if (dist::is_main())
        NORMA_CHECK(resuming || !fs::exists(fs::path(o.out) / "last.ckpt"), "--out: ", o.out,
                    " holds a run already (last.ckpt); continue it with --resume ",
                    (fs::path(o.out) / "last.ckpt").string(), " or choose another --out");
      d = load_data(spec, data_dir, shape, /*train=*/true, out);
      if (dist::is_main()) {
        RunDir make_it(o.out);  // fails here, agreed, if it cannot be made
      }
      // Each global batch is shared equally, the last one of the epoch too (a last batch of
      // one image is dropped, below).
      const int64_t n = d.train->size(), last = n % o.batch_size;
      NORMA_CHECK(last % K == 0 || last == 1, "--batch-size ", o.batch_size, " over ", K, " processes: the ", n,
                  " training images end each epoch with a batch of ", last, ", which ", K,
                  " processes cannot share equally; choose a --batch-size B for which ", n, " mod B is a multiple of ",
                  K);
    });
  if (K > 1) {  // every rank must train alike, else their collectives would not match
    uint64_t lo = 0, hi = 0;
    dist::allreduce_min_max(std::hash<std::string>{}(settings_json(o) + std::to_string(d.train->size()) + " " +
                                                     std::to_string(d.test->size()) + " " +
                                                     json(d.class_names).dump()),
                            lo, hi);
    if (lo != hi)
      dist::fail_everywhere("the " + std::to_string(K) + " processes disagree on the run: their settings or their "
                            "data (image counts, classes) differ; every rank needs the same flags and the same data");
  }

  ModelSpec ms;
  ms.model = o.model, ms.norm = {o.norm, o.ghost_batch, o.norm_groups}, ms.data = spec.str();
  ms.class_names = d.class_names, ms.input = shape, ms.mean = d.mean, ms.std = d.std, ms.batch_size = o.batch_size;
  manual_seed(data::derive_seed(o.seed, kInitKey));
  std::shared_ptr<nn::Module> model = build_model(ms);
  std::unique_ptr<optim::Optimizer> opt = make_optimizer(o, *model);

  data::LoaderOptions lo;
  lo.batch_size = o.batch_size / K, lo.seed = o.seed, lo.transforms = train_transforms(spec, d, o.augment);
  lo.rank = dist::rank(), lo.world_size = K;  // this rank's share of every global batch
  // A last batch of one sample would give BatchNorm no variance to normalize by: drop it.
  lo.drop_last = d.train->size() % o.batch_size == 1;
  data::DataLoader loader(d.train, lo);
  const int64_t per_epoch = loader.num_batches();
  NORMA_CHECK(per_epoch == (lo.drop_last ? d.train->size() / o.batch_size
                                         : (d.train->size() + o.batch_size - 1) / o.batch_size),
              "--batch-size ", o.batch_size, " over ", K, " processes: ", per_epoch,
              " batches per epoch per process do not make whole global batches of the ", d.train->size(),
              " training images; choose a larger --batch-size");
  NORMA_CHECK(per_epoch >= 1, "--batch-size ", o.batch_size, ": the training set has only ", d.train->size(), " images");
  const int64_t total = o.steps > 0 ? o.steps : o.epochs * per_epoch;
  const int64_t epochs = (total + per_epoch - 1) / per_epoch;
  optim::ScheduleOptions so;
  so.total_steps = total, so.warmup_steps = o.warmup;
  std::shared_ptr<optim::Schedule> schedule;
  try {
    schedule = optim::make_schedule(o.schedule, so);
  } catch (const Error& e) {
    throw Error(std::string("--schedule ") + o.schedule + ": " + e.what());
  }
  const data::Transforms test_transforms = eval_transforms(d);

  // Before any work: the run directory takes files and has room for this run's (rank 0 writes
  // them; agreed, so every rank stops alike).
  dist::agree([&] {
    if (dist::is_main()) check_run_dir(o, *model, total, epochs);
  });

  // ---- 3. The run directory: a fresh run starts with a checkpoint at step 0 ----
  RunDir run(o.out, /*write=*/dist::is_main());
  json config = json::parse(settings_json(o));
  config["norma_version"] = NORMA_VERSION;
  config["data_dir"] = data_dir, config["threads"] = get_num_threads(), config["out"] = o.out;
  config["eval_every"] = o.eval_every, config["checkpoint_every"] = o.checkpoint_every, config["log_every"] = o.log_every;
  config["max_loss"] = o.max_loss;
  config["world_size"] = K;  // a resumed run must have as many processes
  json transforms = json::array();
  for (const auto& t : lo.transforms) transforms.push_back(t->repr());
  config["derived"] = {{"classes", d.class_names}, {"input_shape", in},
                       {"train_images", d.train->size()}, {"test_images", d.test->size()},
                       {"steps_per_epoch", per_epoch}, {"total_steps", total}, {"epochs", epochs},
                       {"parameters", model->num_parameters()}, {"train_transforms", transforms},
                       {"mean", d.mean}, {"std", d.std}, {"schedule", schedule->str()}};
  RunState state;
  state.config = config.dump();
  if (resuming) {
    model->load_state_dict(ckpt.model);
    opt->load_state_dict(ckpt.optimizer);
    state.step = ckpt.state.step, state.epoch = ckpt.state.epoch, state.position = ckpt.state.position;
    state.seconds = ckpt.state.seconds;
    run.truncate_metrics(state.step);
    json old = json::parse(ckpt.state.config, nullptr, false);
    if (old.is_object() && old.contains("threads") && old["threads"] != config["threads"])
      out << "note: the checkpoint's run used " << old["threads"] << " threads, this one " << config["threads"]
          << ": the result will not be bit-identical to an uninterrupted run\n";
  } else if (dist::is_main()) {
    std::error_code ec;
    fs::remove(run.file("metrics.jsonl"), ec);
  }
  // Data parallel: every rank starts from rank 0's weights (they are alike already: same seed,
  // same checkpoint; this makes sure).
  std::vector<Tensor> state_tensors = model->parameters();
  for (auto& [name, t] : model->named_buffers()) state_tensors.push_back(t);
  optim::broadcast_tensors(state_tensors);
  run.write_config(config.dump(2));
  if (!resuming) {
    run.save_checkpoint(*model, *opt, ms, state);
    run.save_model(*model, ms, 0);
  }

  out << "norma train: " << o.model << " + " << o.norm << " on " << spec.str() << " (" << d.train->size()
      << " training, " << d.test->size() << " test images, " << d.class_names.size() << " classes), "
      << model->num_parameters() << " parameters\n"
      << "  " << (o.steps > 0 ? std::to_string(total) + " steps (" + std::to_string(per_epoch) + " per epoch)"
                              : std::to_string(epochs) + " epoch" + (epochs > 1 ? "s" : "") + " of " +
                                    std::to_string(per_epoch) + " steps")
      << ", batches of " << o.batch_size << "; " << describe_optimizer(o) << "; " << schedule->str()
      << (o.augment ? "; augmented" : "") << "; seed " << o.seed << "; " << get_num_threads() << " thread"
      << (get_num_threads() == 1 ? "" : "s") << "\n"
      << "  run directory: " << o.out << "\n";
  if (K > 1)
    out << "  data parallel: " << K << " processes x " << o.batch_size / K << " images per step"
        << (o.norm == "bn" || o.norm == "ghost"
                ? "; note: --norm " + o.norm + " normalizes with each process's own " + std::to_string(o.batch_size / K) +
                      " images (per-rank statistics); --norm sync uses the global batch's"
                : std::string())
        << "\n";
  if (resuming) out << "  resuming at step " << state.step << " (epoch " << state.epoch + 1 << ", batch " << state.position << ")\n";
  out.flush();

  // ---- 4. The loop ----
  TrainResult result;
  result.out = o.out;
  const std::vector<Tensor> params = model->parameters();
  InterruptHandler interrupts;
  const auto start = Clock::now();
  auto seconds = [&] { return state.seconds + std::chrono::duration<double>(Clock::now() - start).count(); };
  auto checkpoint = [&](int64_t epoch, int64_t position) {
    RunState s = state;
    s.epoch = epoch, s.position = position, s.seconds = seconds();
    run.save_checkpoint(*model, *opt, ms, s);
    run.save_model(*model, ms, s.step);
  };
  // Stops every rank (they all saw the same value) with the step, the value and what to do; the
  // last checkpoint, written before the bad step, stays as it is.
  auto diverged = [&](int64_t bad, int64_t epoch, const char* what, double v, const std::string& why) {
    char value[32];
    std::snprintf(value, sizeof value, "%g", v);
    run.append_metrics(json{{"event", "diverged"}, {"step", bad}, {"epoch", epoch + 1}, {"lr", opt->lr(0)},
                            {what, value}, {"seconds", seconds()}}
                           .dump());
    std::ostringstream msg;
    msg << "training diverged at step " << bad << " (epoch " << epoch + 1 << "): the " << (what[0] == 'l' ? "" : "test ")
        << "loss is " << value << why << ". Try a lower learning rate (--lr " << o.lr << " now, e.g. --lr "
        << o.lr / 10 << "). The last good checkpoint, " << run.file("last.ckpt") << ", is kept.";
    dist::fail_everywhere(msg.str());
  };
  auto log_eval = [&](const EvalResult& r, int64_t epoch) {
    json line = {{"step", state.step}, {"epoch", epoch + 1}, {"test_loss", r.loss}, {"test_accuracy", r.accuracy},
                 {"seconds", seconds()}};
    run.append_metrics(line.dump());
    result.test = r;
    // A finite training loss can hide a model that only eval mode shows broken (an infinite
    // running variance, say): a non-finite test loss stops the run before it is saved.
    if (!std::isfinite(r.loss))
      diverged(state.step, epoch, "test_loss", r.loss, " (the training loss was finite: a weight or a running statistic is not)");
  };

  struct ClearAnomalyContext {  // the context set below ends with the run, thrown or not
    ~ClearAnomalyContext() { anomaly::set_context(""); }
  } clear_anomaly_context;
  int64_t epoch = state.epoch, first = state.position, steps_this_call = 0;
  if (first >= per_epoch) ++epoch, first = 0;  // the checkpoint closed its epoch
  for (; state.step < total; ++epoch, first = 0) {
    loader.start_epoch(epoch, first);
    const int64_t epoch_steps = std::min(per_epoch, total - epoch * per_epoch);
    ProgressBar bar(out, tty, "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(epochs), epoch_steps, first);
    double epoch_loss = 0, window_loss = 0;
    int64_t epoch_right = 0, epoch_seen = 0, window_right = 0, window_seen = 0, window_steps = 0;
    bool stop = false;
    for (data::Batch b; state.step < total && loader.next(b);) {
      if (anomaly::enabled())  // --detect-anomaly: its message says when, too
        anomaly::set_context("training step " + std::to_string(state.step + 1) + " of epoch " + std::to_string(epoch + 1));
      schedule->apply(*opt, state.step);
      uint64_t step_seed = data::derive_seed(o.seed, kStepKey + uint64_t(state.step));  // dropout's masks
      if (K > 1) step_seed = data::derive_seed(step_seed, uint64_t(dist::rank()));          // one per rank
      manual_seed(step_seed);
      Tensor logits = (*model)(b.images);
      Tensor loss = cross_entropy(logits, b.labels);
      std::vector<int64_t> pred = predictions(logits);
      int64_t right = 0;
      for (size_t i = 0; i < pred.size(); ++i) right += pred[i] == b.labels[i];
      // The global batch's loss (the mean of the ranks' equal shares' means), right answers and
      // size, and whether any rank got Ctrl-C: known alike on every rank.
      double reduced[4] = {double(loss.item()), double(right), double(b.labels.size()), double(g_interrupted)};
      dist::allreduce_sum(reduced, 4);
      const double loss_value = reduced[0] / K;
      right = int64_t(reduced[1]);
      const int64_t n = int64_t(reduced[2]);
      if (!(loss_value <= o.max_loss)) {  // NaN fails every comparison
        bar.finish();
        char limit[64];
        std::snprintf(limit, sizeof limit, " (above --max-loss %g)", o.max_loss);
        diverged(state.step + 1, epoch, "loss", loss_value, std::isfinite(loss_value) ? limit : "");
      }
      loss.backward();
      optim::average_gradients(params);
      opt->step();
      opt->zero_grad();
      ++state.step, ++steps_this_call;

      epoch_loss += loss_value * double(n), epoch_right += right, epoch_seen += n;
      window_loss += loss_value, window_right += right, window_seen += n, ++window_steps;
      bar.update(loader.position(), epoch_loss / double(epoch_seen), double(epoch_right) / double(epoch_seen), epoch_seen);

      if (state.step % o.log_every == 0) {
        run.append_metrics(json{{"step", state.step}, {"epoch", epoch + 1}, {"lr", opt->lr(0)},
                                {"loss", window_loss / double(window_steps)},
                                {"accuracy", double(window_right) / double(window_seen)}, {"seconds", seconds()}}
                               .dump());
        window_loss = 0, window_right = window_seen = window_steps = 0;
      }
      const bool epoch_end = loader.position() == per_epoch || state.step == total;
      if (o.eval_every > 0 && state.step % o.eval_every == 0 && !epoch_end) {
        check_replicas(*model, o.norm, state.step);
        if (anomaly::enabled()) anomaly::set_context("evaluating after step " + std::to_string(state.step));
        EvalResult r = evaluate(*model, d.test, test_transforms, o.batch_size);
        log_eval(r, epoch);
        char line[128];
        std::snprintf(line, sizeof line, "step %lld: test loss %.4f, test accuracy %s", (long long)state.step, r.loss,
                      percent(r.accuracy).c_str());
        bar.message(line);
      }
      stop = (K == 1 ? g_interrupted != 0 : reduced[3] > 0) || (o.stop_after > 0 && steps_this_call >= o.stop_after);
      if (stop || (o.checkpoint_every > 0 && state.step % o.checkpoint_every == 0 && !epoch_end))
        checkpoint(epoch, loader.position());
      if (stop) break;
    }
    bar.finish();
    if (stop) {
      out << "stopped at step " << state.step << "; continue with: norma train --resume " << run.file("last.ckpt") << "\n";
      result.interrupted = true;
      break;
    }
    // The epoch's (or the run's) end: evaluate, then checkpoint.
    check_replicas(*model, o.norm, state.step);
    if (anomaly::enabled()) anomaly::set_context("evaluating after step " + std::to_string(state.step));
    EvalResult r = evaluate(*model, d.test, test_transforms, o.batch_size);
    log_eval(r, epoch);
    char line[256];
    std::snprintf(line, sizeof line, "epoch %lld/%lld: test loss %.4f, test accuracy %s (train loss %.4f, accuracy %s)\n",
                  (long long)(epoch + 1), (long long)epochs, r.loss, percent(r.accuracy).c_str(),
                  epoch_seen ? epoch_loss / double(epoch_seen) : 0.0,
                  percent(epoch_seen ? double(epoch_right) / double(epoch_seen) : 0.0).c_str());
    out << line;
    out.flush();
    checkpoint(epoch, loader.position());
    // Rank 0's memory after the epoch's steps, evaluation and checkpoint. (A kill right before
    // this line loses it: the resumed run starts after this epoch.)
    const MemoryUse mem = memory_use();
    run.append_metrics(json{{"step", state.step}, {"epoch", epoch + 1}, {"rss_mib", mem.rss_mib},
                            {"peak_rss_mib", mem.peak_rss_mib}}.dump());
  }

  if (anomaly::enabled()) anomaly::set_context("evaluating after step " + std::to_string(state.step));
  result.steps = state.step;
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (!result.interrupted) {
    if (result.test.count == 0) check_replicas(*model, o.norm, state.step);
    if (result.test.count == 0) result.test = evaluate(*model, d.test, test_transforms, o.batch_size);  // nothing left to do
    char line[128];
    std::snprintf(line, sizeof line, "done: test accuracy %s after %lld steps (%.1f s); model saved to ",
                  percent(result.test.accuracy).c_str(), (long long)state.step, result.seconds);
    out << line << run.file("model.safetensors") << "\n";
  }
  out.flush();
  return result;
}

}  // namespace norma::apps
