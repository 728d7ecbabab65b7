// optim::Optimizer: the base of SGD, Adam and AdamW, as torch.optim.Optimizer.
//
// Parameters come in groups; each group carries its own hyperparameters ("lr",
// "weight_decay", "momentum", ...) so that, e.g., norm weights and biases get no weight decay.
// Options a group leaves unset take the optimizer's defaults when the group is added, as
// PyTorch's add_param_group does. Per-parameter state (momentum_buffer, exp_avg, ...) is
// created on a parameter's first step, and only parameters that have a gradient are updated.
//
//   optim::ParamGroup no_decay(bias_and_norm_params, {{"weight_decay", 0.0}});
//   optim::SGD opt({optim::ParamGroup(weights), no_decay}, /*lr=*/0.05, /*momentum=*/0.9,
//                  /*dampening=*/0, /*weight_decay=*/5e-4);
//   loss.backward(); opt.step(); opt.zero_grad();
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace norma::optim {

// Ordered name -> tensor pairs: the same type as nn::StateDict, so an optimizer's state_dict
// goes into the same checkpoint file as a model's (optim/ does not include layers/).
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
// Hyperparameters by name; flags (nesterov, amsgrad) are 0 or 1.
using Options = std::map<std::string, double>;

struct ParamGroup {
  std::vector<Tensor> params;
  Options options;

  ParamGroup() = default;
  ParamGroup(std::vector<Tensor> params, Options options = {})
      : params(std::move(params)), options(std::move(options)) {}
  // The option's value; throws naming it if the group does not have it.
  double get(const std::string& name) const;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient, in place, without recording.
  void step();
  // Drops every parameter's gradient (PyTorch's zero_grad(set_to_none=True)).
  void zero_grad();

  // Adds a group: unset options take the defaults, unknown ones are an error, and
  // "initial_lr" (the lr schedules scale from) is set to its lr.
  void add_param_group(ParamGroup group);
  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  double lr(size_t group = 0) const;
  void set_lr(double lr, size_t group);
  void set_lr(double lr);  // every group
  const std::string& name() const { return name_; }

  // A snapshot (cloned tensors) for checkpoints. Keys follow PyTorch's state_dict, flattened:
  //   "state.<i>.<buffer>"         parameter i (counting through the groups in order)
  //   "param_groups.<g>.<option>"  a double as three floats [hi, mid, lo] summing to it exactly
  //   "param_groups.<g>.params"    the indices of the group's parameters
  NamedTensors state_dict() const;
  // Restores state and options into an optimizer built over the same parameters (same
  // groups, sizes and shapes); anything else is an error naming the key.
  void load_state_dict(const NamedTensors& state);

 protected:
  using State = std::map<std::string, Tensor>;
  // `defaults` lists every option this optimizer has; `buffers` the state names it keeps.
  Optimizer(std::string name, Options defaults, std::vector<std::string> buffers);
  // Checks the defaults and adds the groups; derived constructors call it last (it calls
  // check_options, which is virtual).
  void init(std::vector<ParamGroup> groups);
  // Throws if the group's options are invalid (negative lr, ...).
  virtual void check_options(const Options& options) const = 0;
  // Updates one parameter p (contiguous) from its gradient, under NoGradGuard.
  virtual void update(const Options& options, Tensor& p, const Tensor& grad, State& state) = 0;

 private:
  std::string name_;
  Options defaults_;
  std::vector<std::string> buffers_;
  std::vector<ParamGroup> groups_;
  std::vector<State> state_;  // per parameter, indexed like "state.<i>"
};

// Threshold (elements) above which update loops use OpenMP threads.
constexpr int64_t kParallelUpdate = 32768;

}  // namespace norma::optim
