// norma train: trains a built-in model on a data set (apps/training.h does the work). With no
// flags: lenet with BatchNorm on MNIST for one epoch, SGD momentum 0.9, lr 0.05, batch 128.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>

#include "apps/commands.h"
#include "apps/training.h"
#include "core/autograd.h"
#include "core/distributed.h"
#include "core/error.h"
#include "layers/resnet/models.h"
#include "optim/schedule.h"

namespace norma::apps {

void add_train_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "Train a built-in model (default: lenet + BatchNorm on MNIST, one epoch)");
  auto o = std::make_shared<TrainOptions>();
  cmd->add_option("--data", o->data, "mnist, fashion-mnist, cifar10, or folder:PATH (one sub-folder per class)")
      ->capture_default_str();
  cmd->add_option("--data-dir", o->data_dir, "where the built-in data sets live (default: $NORMA_DATA, else ./data)");
  cmd->add_option("--model", o->model, "a built-in model (norma models lists them)")
      ->check(CLI::IsMember(nn::model_names()))
      ->capture_default_str();
  cmd->add_option("--norm", o->norm, "the normalization of every norm layer")
      ->check(CLI::IsMember(nn::norm_kinds()))
      ->capture_default_str();
  cmd->add_option("--norm-groups", o->norm_groups, "gn: the most groups per layer")->capture_default_str();
  cmd->add_option("--ghost-batch", o->ghost_batch, "ghost: samples per virtual batch")->capture_default_str();
  auto* epochs = cmd->add_option("--epochs", o->epochs, "passes over the training set")->capture_default_str();
  auto* steps = cmd->add_option("--steps", o->steps, "train this many steps instead of whole epochs");
  epochs->excludes(steps);
  cmd->add_option("--batch-size", o->batch_size, "images per step")->capture_default_str();
  cmd->add_option("--lr", o->lr, "learning rate (default: 0.05 for sgd, 0.001 for adam and adamw)");
  cmd->add_option("--optimizer", o->optimizer, "sgd, adam or adamw")
      ->check(CLI::IsMember({"sgd", "adam", "adamw"}))
      ->capture_default_str();
  cmd->add_option("--momentum", o->momentum, "SGD momentum (adam, adamw: beta1)")->capture_default_str();
  cmd->add_option("--weight-decay", o->weight_decay,
                  "weight decay, not applied to norm parameters and biases (default: 0; adamw: 0.01)");
  cmd->add_option("--schedule", o->schedule, "learning-rate schedule over the run")
      ->check(CLI::IsMember(optim::schedule_names()))
      ->capture_default_str();
  cmd->add_option("--warmup", o->warmup, "steps of linear learning-rate warm-up first")->capture_default_str();
  cmd->add_flag("--augment", o->augment, "random crops and horizontal flips (cifar10, folders)");
  cmd->add_option("--seed", o->seed, "seed of the weights, the batch order, augmentation and dropout")->capture_default_str();
  cmd->add_option("--threads", o->threads, "OpenMP/OpenBLAS threads (0: default)")->capture_default_str();
  cmd->add_option("--out", o->out, "run directory (default: runs/<model>-<norm>-<data>-<time>)");
  cmd->add_option("--resume", o->resume, "continue the run of this last.ckpt exactly, with its settings");
  cmd->add_option("--eval-every", o->eval_every, "also evaluate every this many steps (0: at epoch ends)")
      ->capture_default_str();
  cmd->add_option("--checkpoint-every", o->checkpoint_every, "also checkpoint every this many steps (0: at epoch ends)")
      ->capture_default_str();
  cmd->add_option("--log-every", o->log_every, "a metrics.jsonl line every this many steps")->capture_default_str();
  cmd->add_option("--max-loss", o->max_loss, "stop as diverged when the loss is NaN, Inf or above this")
      ->capture_default_str();
  // Not a run setting (not in TrainOptions): a debugging switch, free to differ on --resume.
  auto detect_anomaly = std::make_shared<bool>(false);
  cmd->add_flag("--detect-anomaly", *detect_anomaly,
                "check every op's output and gradient for NaN/Inf; the first one stops the run naming the op "
                "(slower)");

  cmd->callback([o, cmd, detect_anomaly] {
    DetectAnomalyGuard anomaly(*detect_anomaly || detect_anomaly_enabled());
    TrainOptions opts = *o;
    if (!opts.resume.empty()) {
      std::vector<std::string> given;  // run settings given on the command line: checked, not replaced
      for (const std::string& key : run_settings()) {
        std::string flag = "--" + key;
        std::replace(flag.begin(), flag.end(), '_', '-');
        if (cmd->count(flag) > 0) given.push_back(key);
      }
      dist::agree([&] { settings_from_checkpoint(opts, given); });  // a rank may lack the file
    } else if (opts.optimizer != "sgd") {
      if (cmd->count("--lr") == 0) opts.lr = 1e-3;
      if (opts.optimizer == "adamw" && cmd->count("--weight-decay") == 0) opts.weight_decay = 1e-2;
    }
    TrainResult r = train(opts, std::cout, ::isatty(::fileno(stdout)) == 1);
    // Every rank stops at the same step (train() agrees on it).
    if (r.interrupted) dist::fail_everywhere("interrupted by Ctrl-C at step " + std::to_string(r.steps) + " (checkpoint saved)");
  });
}

}  // namespace norma::apps
