// Containers and shape helpers: Sequential, ModuleList, Identity, Flatten.
#pragma once
#include <initializer_list>

#include "layers/module.h"

namespace norma::nn {

// Calls its children in order; children are named "0", "1", ... (as in PyTorch).
class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);
  void push_back(std::shared_ptr<Module> m);
  // Named children (for models whose state_dict keys are names, not indices).
  void push_back(const std::string& name, std::shared_ptr<Module> m);
  size_t size() const { return children().size(); }
  std::shared_ptr<Module> operator[](size_t i) const { return children().at(i).second; }
  Tensor forward(const Tensor& x) override;
};

// Holds modules by index without calling them (the owner decides how).
class ModuleList : public Module {
 public:
  ModuleList() : Module("ModuleList") {}
  void push_back(std::shared_ptr<Module> m);
  size_t size() const { return children().size(); }
  std::shared_ptr<Module> operator[](size_t i) const { return children().at(i).second; }
  Tensor forward(const Tensor& x) override;  // an error: a ModuleList is not callable
};

class Identity : public Module {
 public:
  Identity() : Module("Identity") {}
  Tensor forward(const Tensor& x) override { return x; }
};

// Flattens dims start_dim..end_dim (PyTorch's defaults 1..-1 keep the batch dim).
class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1)
      : Module("Flatten"), start_dim_(start_dim), end_dim_(end_dim) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

 private:
  int64_t start_dim_, end_dim_;
};

}  // namespace norma::nn
