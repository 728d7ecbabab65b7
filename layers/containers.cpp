#include "layers/containers.h"

#include "core/ops/shape_ops.h"

namespace norma::nn {

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules) : Module("Sequential") {
  for (auto& m : modules) push_back(m);
}

void Sequential::push_back(std::shared_ptr<Module> m) { register_module(std::to_string(size()), std::move(m)); }
void Sequential::push_back(const std::string& name, std::shared_ptr<Module> m) { register_module(name, std::move(m)); }

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (auto& [name, m] : children()) h = (*m)(h);
  return h;
}

void ModuleList::push_back(std::shared_ptr<Module> m) { register_module(std::to_string(size()), std::move(m)); }

Tensor ModuleList::forward(const Tensor&) {
  throw Error("ModuleList: not callable; call its modules, e.g. (*list[i])(x)");
}

Tensor Flatten::forward(const Tensor& x) { return flatten(x, start_dim_, end_dim_); }

std::string Flatten::extra_repr() const {
  return "start_dim=" + std::to_string(start_dim_) + ", end_dim=" + std::to_string(end_dim_);
}

}  // namespace norma::nn
