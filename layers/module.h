// nn::Module: the base of every layer, as PyTorch's torch.nn.Module.
//
// A module owns named tensors (parameters: learnable; buffers: state such as running
// statistics) and named child modules. Names compose with dots, so a model's state_dict keys
// are PyTorch's: "layer1.0.bn1.running_mean". train()/eval() switch the whole tree.
//
// Layers keep their tensors in this registry and read them back with param("weight") /
// buffer("running_mean"); the handles stay valid for the module's life, because
// load_state_dict() copies values into the existing buffers rather than replacing them.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace norma::nn {

// Ordered name -> tensor pairs (registration order, like PyTorch's OrderedDict).
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
using StateDict = NamedTensors;

class Module {
 public:
  explicit Module(std::string type_name) : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The layer's computation. Modules with two inputs (AdaIN) add their own overload.
  virtual Tensor forward(const Tensor& x) = 0;
  // Runs the pre-forward hooks (weight_norm, spectral_norm use them), then forward().
  // Call modules this way, not through forward(), so hooks and summary() see them.
  Tensor operator()(const Tensor& x);

  // ---- Registration (in constructors) ----
  Tensor& register_parameter(const std::string& name, Tensor t, bool requires_grad = true);
  Tensor& register_buffer(const std::string& name, Tensor t);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    add_child(name, m);
    return m;
  }
  // Replaces a registered child (e.g. swapping a norm layer after construction).
  void replace_module(const std::string& name, std::shared_ptr<Module> m);

  // ---- Access ----
  Tensor& param(const std::string& name);    // throws naming the module if absent
  Tensor& buffer(const std::string& name);
  bool has_param(const std::string& name) const;
  bool has_buffer(const std::string& name) const;
  // A plain tensor attribute that is neither parameter nor buffer (weight_norm computes
  // "weight" this way each forward); param() falls back to it.
  void set_attribute(const std::string& name, Tensor t);
  // Removes a parameter from the registry (weight_norm replaces "weight" by g and v).
  Tensor remove_parameter(const std::string& name);
  std::shared_ptr<Module> child(const std::string& name) const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }

  std::vector<Tensor> parameters(bool recurse = true) const;
  NamedTensors named_parameters(bool recurse = true) const;
  NamedTensors named_buffers(bool recurse = true) const;
  // This module ("") and every descendant, with dotted names, depth first. The pointers are
  // owned by the tree (valid while this module lives).
  std::vector<std::pair<std::string, Module*>> named_modules();

  // ---- Mode and gradients ----
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();

  // ---- State ----
  // Parameters and buffers, dotted names; tensors are detached views of the live ones.
  StateDict state_dict() const;
  // Copies values in. strict: every key must match, none may be missing. Shape mismatches
  // are always an error. Messages list the offending names.
  void load_state_dict(const StateDict& state, bool strict = true);

  // Calls fn on every module of the tree, children first then this one (as PyTorch).
  void apply(const std::function<void(Module&)>& fn);
  void register_forward_pre_hook(std::function<void(Module&)> hook) { pre_hooks_.push_back(std::move(hook)); }

  // ---- Printing ----
  const std::string& type_name() const { return type_name_; }
  // Arguments shown in the repr, e.g. "in_features=784, out_features=100, bias=true".
  virtual std::string extra_repr() const { return ""; }
  // PyTorch-style repr of the tree.
  std::string repr() const;
  int64_t num_parameters() const;

 protected:
  bool training_ = true;

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> m);
  void collect(const std::string& prefix, bool params, bool recurse, NamedTensors& out) const;
  std::string repr_indented(int indent) const;

  std::string type_name_;
  NamedTensors params_, buffers_, attributes_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  std::vector<std::function<void(Module&)>> pre_hooks_;
};

std::ostream& operator<<(std::ostream& os, const Module& m);

// A summary like torchinfo's: one row per module with its output shape for the given input
// and its own parameter count, then the totals. Runs one forward in eval mode, no grad.
std::string summary(Module& model, const Shape& input_shape);

}  // namespace norma::nn
