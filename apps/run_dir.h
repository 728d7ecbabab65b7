// What a training run leaves in its directory, and how eval / predict / --resume read it back:
//   config.json        every setting of the run, the seed, the norma version
//   metrics.jsonl      one JSON object a line: logged steps {step, epoch, lr, loss, accuracy,
//                      seconds}, evaluations {step, epoch, test_loss, test_accuracy, seconds},
//                      memory after each epoch {step, epoch, rss_mib, peak_rss_mib},
//                      and {"event": "diverged", ...} if the loss became NaN or Inf
//   model.safetensors  the model's state_dict, with the ModelSpec below as metadata
//   last.ckpt          safetensors too: "model.<name>" and "optimizer.<key>" tensors, the
//                      ModelSpec, and where the run stands (step, epoch, batch in the epoch)
// Both .safetensors files are written atomically, so an interrupted run never leaves half a
// file: a kill (even SIGKILL) loses at most the steps since the last checkpoint, and a resumed
// run drops the torn last metrics line and the temporary copies it left. Nothing else is
// needed to resume exactly: every random draw of a step is a function of (seed, step) (the
// loader's order and augmentation, and the default generator that dropout draws from, reseeded
// before each step), and the LR schedule is a function of the step.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "layers/checkpoint.h"
#include "layers/norm/factory.h"
#include "optim/optimizer.h"

namespace norma::apps {

// Enough to rebuild a trained model and feed it as in training.
struct ModelSpec {
  std::string model;  // a built-in model name (nn::model_names())
  nn::NormConfig norm;
  std::string data;   // the --data it was trained on
  std::vector<std::string> class_names;
  data::ImageShape input;         // one image, [C, H, W]
  std::vector<float> mean, std;   // per-channel normalization of the pixels in [0, 1]
  int64_t batch_size = 128;       // the run's batch size (eval uses it: the same batches)

  nn::Metadata metadata() const;
  // Reads the metadata of `path` (named in errors).
  static ModelSpec from_metadata(const nn::Metadata& meta, const std::string& path);
};

std::shared_ptr<nn::Module> build_model(const ModelSpec& spec);

// Where a run stands, saved in last.ckpt.
struct RunState {
  int64_t step = 0;      // optimizer steps taken
  int64_t epoch = 0;     // the epoch in progress (0-based)
  int64_t position = 0;  // batches of that epoch done
  double seconds = 0;    // training time so far
  std::string config;    // config.json's content (resume checks the settings against it)
};

struct Checkpoint {
  nn::StateDict model;
  optim::NamedTensors optimizer;
  ModelSpec spec;
  RunState state;
};
Checkpoint load_checkpoint(const std::string& path);

// A model file (model.safetensors) or a checkpoint (last.ckpt), rebuilt, in eval mode.
struct TrainedModel {
  std::shared_ptr<nn::Module> module;
  ModelSpec spec;
  int64_t step = 0;
};
TrainedModel load_trained_model(const std::string& path);

class RunDir {
 public:
  // Creates the directory. write false: a directory that another process writes (the ranks
  // of data-parallel training other than 0): every method that writes does nothing.
  explicit RunDir(std::string path, bool write = true);
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const;

  void write_config(const std::string& json) const;
  void append_metrics(const std::string& json_line) const;
  // Drops the metrics recorded after `step` (a resumed run redoes those steps).
  void truncate_metrics(int64_t step) const;
  void save_model(const nn::Module& model, const ModelSpec& spec, int64_t step) const;
  void save_checkpoint(const nn::Module& model, const optim::Optimizer& opt, const ModelSpec& spec,
                       const RunState& state) const;

 private:
  std::string path_;
  bool write_;
};

// runs/<model>-<norm>-<data>-<YYYYmmdd-HHMMSS>, with a suffix if that exists already.
std::string default_run_dir(const std::string& model, const std::string& norm, const std::string& data);

}  // namespace norma::apps
