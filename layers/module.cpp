#include "layers/module.h"

#include <algorithm>
#include <iomanip>
#include <set>
#include <sstream>

#include "core/autograd.h"

namespace norma::nn {
namespace {
// summary() records each module's output shape while one forward runs.
thread_local std::vector<std::pair<const Module*, Shape>>* g_summary = nullptr;

Tensor* find(NamedTensors& list, const std::string& name) {
  for (auto& [n, t] : list)
    if (n == name) return &t;
  return nullptr;
}
const Tensor* find(const NamedTensors& list, const std::string& name) {
  for (const auto& [n, t] : list)
    if (n == name) return &t;
  return nullptr;
}
}  // namespace

Tensor Module::operator()(const Tensor& x) {
  for (auto& hook : pre_hooks_) hook(*this);
  Tensor out = forward(x);
  if (g_summary) g_summary->emplace_back(this, out.shape());
  return out;
}

Tensor& Module::register_parameter(const std::string& name, Tensor t, bool requires_grad) {
  NORMA_CHECK(!name.empty() && name.find('.') == std::string::npos, type_name_, ": invalid parameter name '",
              name, "'");
  NORMA_CHECK(!find(params_, name) && !find(buffers_, name), type_name_, ": '", name, "' is already registered");
  if (t.defined()) t.requires_grad_(requires_grad);
  params_.emplace_back(name, t);
  return params_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor t) {
  NORMA_CHECK(!name.empty() && name.find('.') == std::string::npos, type_name_, ": invalid buffer name '", name, "'");
  NORMA_CHECK(!find(params_, name) && !find(buffers_, name), type_name_, ": '", name, "' is already registered");
  buffers_.emplace_back(name, t);
  return buffers_.back().second;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> m) {
  NORMA_CHECK(m != nullptr, type_name_, ": child module '", name, "' is null");
  for (auto& [n, c] : children_) NORMA_CHECK(n != name, type_name_, ": child module '", name, "' already exists");
  children_.emplace_back(name, std::move(m));
}

void Module::replace_module(const std::string& name, std::shared_ptr<Module> m) {
  for (auto& [n, c] : children_)
    if (n == name) {
      c = std::move(m);
      return;
    }
  throw Error(type_name_ + ": no child module '" + name + "' to replace");
}

Tensor& Module::param(const std::string& name) {
  if (Tensor* t = find(params_, name)) return *t;
  if (Tensor* t = find(attributes_, name)) return *t;
  throw Error(type_name_ + ": no parameter '" + name + "'");
}

Tensor& Module::buffer(const std::string& name) {
  if (Tensor* t = find(buffers_, name)) return *t;
  throw Error(type_name_ + ": no buffer '" + name + "'");
}

bool Module::has_param(const std::string& name) const { return find(params_, name) != nullptr; }
bool Module::has_buffer(const std::string& name) const { return find(buffers_, name) != nullptr; }

void Module::set_attribute(const std::string& name, Tensor t) {
  if (Tensor* a = find(attributes_, name)) *a = std::move(t);
  else attributes_.emplace_back(name, std::move(t));
}

Tensor Module::remove_parameter(const std::string& name) {
  auto it = std::find_if(params_.begin(), params_.end(), [&](const auto& p) { return p.first == name; });
  NORMA_CHECK(it != params_.end(), type_name_, ": no parameter '", name, "' to remove");
  Tensor t = it->second;
  params_.erase(it);
  return t;
}

std::shared_ptr<Module> Module::child(const std::string& name) const {
  for (const auto& [n, c] : children_)
    if (n == name) return c;
  throw Error(type_name_ + ": no child module '" + name + "'");
}

void Module::collect(const std::string& prefix, bool params, bool recurse, NamedTensors& out) const {
  for (const auto& [n, t] : params ? params_ : buffers_)
    if (t.defined()) out.emplace_back(prefix + n, t);
  if (!recurse) return;
  for (const auto& [n, c] : children_) c->collect(prefix + n + ".", params, true, out);
}

NamedTensors Module::named_parameters(bool recurse) const {
  NamedTensors out;
  collect("", true, recurse, out);
  return out;
}

NamedTensors Module::named_buffers(bool recurse) const {
  NamedTensors out;
  collect("", false, recurse, out);
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters(recurse)) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out{{"", this}};
  for (auto& [n, c] : children_)
    for (auto& [sub, m] : c->named_modules()) out.emplace_back(sub.empty() ? n : n + "." + sub, m);
  return out;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, c] : children_) c->train(on);
}

void Module::zero_grad() {
  for (Tensor& p : parameters()) p.zero_grad();
}

StateDict Module::state_dict() const {
  // PyTorch's order: a module's parameters, then its buffers, then its children's.
  StateDict out;
  std::function<void(const Module&, const std::string&)> walk = [&](const Module& m, const std::string& prefix) {
    for (const auto& [n, t] : m.params_)
      if (t.defined()) out.emplace_back(prefix + n, t.detach());
    for (const auto& [n, t] : m.buffers_)
      if (t.defined()) out.emplace_back(prefix + n, t.detach());
    for (const auto& [n, c] : m.children_) walk(*c, prefix + n + ".");
  };
  walk(*this, "");
  return out;
}

void Module::load_state_dict(const StateDict& state, bool strict) {
  StateDict mine = state_dict();
  std::vector<std::string> missing, unexpected, mismatched;
  std::set<std::string> given;
  for (const auto& [n, t] : state) given.insert(n);
  for (auto& [n, dst] : mine) {
    const Tensor* src = find(state, n);
    if (!src) {
      missing.push_back(n);
      continue;
    }
    if (src->shape() != dst.shape())
      mismatched.push_back(n + ": checkpoint " + shape_str(src->shape()) + ", model " + shape_str(dst.shape()));
  }
  for (const auto& [n, t] : state)
    if (!find(mine, n)) unexpected.push_back(n);
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
  };
  std::string err;
  if (!mismatched.empty()) err += " shape mismatch for " + join(mismatched) + ".";
  if (strict && !missing.empty()) err += " missing keys: " + join(missing) + ".";
  if (strict && !unexpected.empty()) err += " unexpected keys: " + join(unexpected) + ".";
  NORMA_CHECK(err.empty(), "load_state_dict (", type_name_, "):", err);
  NoGradGuard no_grad;
  for (auto& [n, dst] : mine)
    if (const Tensor* src = find(state, n)) dst.copy_(*src);
}

void Module::apply(const std::function<void(Module&)>& fn) {
  for (auto& [n, c] : children_) c->apply(fn);
  fn(*this);
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const Tensor& p : parameters()) n += p.numel();
  return n;
}

std::string Module::repr_indented(int indent) const {
  std::ostringstream os;
  os << type_name_ << "(" << extra_repr();
  if (!children_.empty()) {
    os << "\n";
    for (const auto& [n, c] : children_)
      os << std::string(size_t(indent + 2), ' ') << "(" << n << "): " << c->repr_indented(indent + 2) << "\n";
    os << std::string(size_t(indent), ' ');
  }
  os << ")";
  return os.str();
}

std::string Module::repr() const { return repr_indented(0); }

std::ostream& operator<<(std::ostream& os, const Module& m) { return os << m.repr(); }

std::string summary(Module& model, const Shape& input_shape) {
  std::vector<std::pair<const Module*, Shape>> shapes;
  bool was_training = model.is_training();
  model.eval();
  {
    NoGradGuard no_grad;
    g_summary = &shapes;
    try {
      model(zeros(input_shape));
    } catch (...) {
      g_summary = nullptr;
      model.train(was_training);
      throw;
    }
    g_summary = nullptr;
  }
  model.train(was_training);
  std::ostringstream os;
  os << std::left << std::setw(40) << "Layer (type)" << std::setw(24) << "Output shape" << std::right
     << std::setw(12) << "Params" << "\n"
     << std::string(76, '=') << "\n";
  int64_t total = 0, trainable = 0;
  for (auto& [name, m] : model.named_modules()) {
    Shape out;
    bool seen = false;
    for (auto& [mod, sh] : shapes)
      if (mod == m) out = sh, seen = true;  // last call wins (a module reused twice)
    int64_t own = 0;
    for (const Tensor& p : m->parameters(false)) own += p.numel();
    total += own;
    for (const Tensor& p : m->parameters(false)) trainable += p.requires_grad() ? p.numel() : 0;
    int depth = int(std::count(name.begin(), name.end(), '.')) + (name.empty() ? 0 : 1);
    std::string label = std::string(size_t(2 * depth), ' ') + (name.empty() ? "" : name + " ") + "(" + m->type_name() + ")";
    os << std::left << std::setw(40) << label << std::setw(24) << (seen ? shape_str(out) : "-") << std::right
       << std::setw(12) << own << "\n";
  }
  os << std::string(76, '=') << "\nTotal params: " << total << "\nTrainable params: " << trainable << "\n";
  return os.str();
}

}  // namespace norma::nn
