// Parameter groups, the step loop and checkpoints shared by every optimizer.
#include "optim/optimizer.h"

#include <algorithm>
#include <set>

#include "core/autograd.h"

namespace norma::optim {

namespace {
std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// Checkpoints hold float32 tensors, but options enter double-precision formulas (Adam's bias
// correction 1 - beta1^step), so a resumed run needs them exactly: a double is stored as three
// floats [hi, mid, lo], each the rounding of what the previous ones left, whose sum is exactly
// the double (hi alone is its value to float precision).
Tensor pack_double(double v) {
  float hi = float(v);
  float mid = float(v - double(hi));
  float lo = float(v - double(hi) - double(mid));
  return from_vector({hi, mid, lo}, {3});
}

double unpack_double(const Tensor& t) {
  std::vector<float> v = t.to_vector();
  return (double(v[0]) + double(v[1])) + double(v[2]);
}

// Splits "state.12.exp_avg" (prefix "state.") into 12 and "exp_avg"; false if it does not fit.
bool parse_key(const std::string& key, const std::string& prefix, size_t& index, std::string& rest) {
  if (key.compare(0, prefix.size(), prefix) != 0) return false;
  size_t dot = key.find('.', prefix.size());
  if (dot == std::string::npos || dot == prefix.size() || dot + 1 == key.size()) return false;
  std::string digits = key.substr(prefix.size(), dot - prefix.size());
  if (digits.find_first_not_of("0123456789") != std::string::npos) return false;
  index = std::stoul(digits);
  rest = key.substr(dot + 1);
  return true;
}
}  // namespace

double ParamGroup::get(const std::string& name) const {
  auto it = options.find(name);
  NORMA_CHECK(it != options.end(), "ParamGroup: no option '", name, "'");
  return it->second;
}

Optimizer::Optimizer(std::string name, Options defaults, std::vector<std::string> buffers)
    : name_(std::move(name)), defaults_(std::move(defaults)), buffers_(std::move(buffers)) {}

void Optimizer::init(std::vector<ParamGroup> groups) {
  check_options(defaults_);
  NORMA_CHECK(!groups.empty(), name_, ": got an empty parameter list");
  for (ParamGroup& g : groups) add_param_group(std::move(g));
}

void Optimizer::add_param_group(ParamGroup group) {
  const std::string where = name_ + ": param group " + std::to_string(groups_.size());
  NORMA_CHECK(!group.params.empty(), where, " has no parameters");
  std::set<const TensorImpl*> seen;
  for (const ParamGroup& g : groups_)
    for (const Tensor& p : g.params) seen.insert(&p.impl());
  for (size_t i = 0; i < group.params.size(); ++i) {
    const Tensor& p = group.params[i];
    NORMA_CHECK(p.defined(), where, ": parameter ", i, " is undefined");
    NORMA_CHECK(p.is_leaf() && p.is_contiguous(), where, ": parameter ", i, " of shape ", p.shape(),
                " must be a contiguous leaf tensor");
    NORMA_CHECK(seen.insert(&p.impl()).second, where, ": parameter ", i, " of shape ", p.shape(),
                " appears in more than one parameter group");
  }
  std::vector<std::string> valid;
  for (const auto& [name, v] : defaults_) valid.push_back(name);
  for (const auto& [name, v] : group.options)
    NORMA_CHECK(defaults_.count(name) || name == "initial_lr", where, ": unknown option '", name,
                "' (", name_, " options: ", join(valid), ")");
  for (const auto& [name, v] : defaults_) group.options.emplace(name, v);  // unset -> default
  group.options.emplace("initial_lr", group.options.at("lr"));
  check_options(group.options);
  state_.resize(state_.size() + group.params.size());
  groups_.push_back(std::move(group));
}

void Optimizer::step() {
  NoGradGuard no_grad;
  size_t index = 0;
  for (ParamGroup& g : groups_)
    for (Tensor& p : g.params) {
      State& state = state_[index++];
      Tensor grad = p.grad();
      if (!grad.defined()) continue;  // PyTorch skips parameters whose grad is None
      update(g.options, p, grad.contiguous(), state);
    }
}

void Optimizer::zero_grad() {
  for (ParamGroup& g : groups_)
    for (Tensor& p : g.params) p.zero_grad();
}

double Optimizer::lr(size_t group) const {
  NORMA_CHECK(group < groups_.size(), name_, ".lr: group ", group, " out of range (", groups_.size(), " groups)");
  return groups_[group].get("lr");
}

void Optimizer::set_lr(double lr, size_t group) {
  NORMA_CHECK(group < groups_.size(), name_, ".set_lr: group ", group, " out of range (", groups_.size(), " groups)");
  NORMA_CHECK(lr >= 0, name_, ".set_lr: invalid learning rate ", lr, " (must be >= 0)");
  groups_[group].options["lr"] = lr;
}

void Optimizer::set_lr(double lr) {
  for (size_t g = 0; g < groups_.size(); ++g) set_lr(lr, g);
}

NamedTensors Optimizer::state_dict() const {
  NamedTensors out;
  for (size_t i = 0; i < state_.size(); ++i)
    for (const auto& [name, t] : state_[i]) out.emplace_back("state." + std::to_string(i) + "." + name, t.clone());
  size_t index = 0;
  for (size_t g = 0; g < groups_.size(); ++g) {
    std::string prefix = "param_groups." + std::to_string(g) + ".";
    for (const auto& [name, v] : groups_[g].options) out.emplace_back(prefix + name, pack_double(v));
    std::vector<float> ids;
    for (size_t k = 0; k < groups_[g].params.size(); ++k) ids.push_back(float(index++));
    out.emplace_back(prefix + "params", from_vector(ids, {int64_t(ids.size())}));
  }
  return out;
}

void Optimizer::load_state_dict(const NamedTensors& dict) {
  const std::string where = name_ + ".load_state_dict: ";
  std::vector<const Tensor*> params;  // flat, indexed like state_
  for (const ParamGroup& g : groups_)
    for (const Tensor& p : g.params) params.push_back(&p);
  std::set<std::string> buffers(buffers_.begin(), buffers_.end());

  // 1. Validate every key before changing anything.
  size_t ckpt_groups = 0;
  std::vector<std::string> errors;
  std::set<std::string> seen;
  for (const auto& [key, t] : dict) {
    size_t i;
    std::string rest;
    if (parse_key(key, "state.", i, rest)) {
      if (i >= params.size() || !buffers.count(rest)) {
        errors.push_back("unexpected key " + key + " (" + std::to_string(params.size()) + " parameters; " +
                         name_ + " keeps " + join(buffers_) + ")");
        continue;
      }
      // "step" is a scalar count (PyTorch's float step tensor); other buffers are per element.
      Shape want = rest == "step" ? Shape{} : params[i]->shape();
      if (t.shape() != want)
        errors.push_back(key + " has shape " + shape_str(t.shape()) + ", expected " + shape_str(want));
    } else if (parse_key(key, "param_groups.", i, rest)) {
      ckpt_groups = std::max(ckpt_groups, i + 1);
      if (i >= groups_.size()) continue;  // reported as a group count mismatch below
      if (rest == "params") {
        if (t.numel() != int64_t(groups_[i].params.size()))
          errors.push_back("param group " + std::to_string(i) + " has " + std::to_string(t.numel()) +
                           " parameters in the checkpoint, " + std::to_string(groups_[i].params.size()) +
                           " in the optimizer");
      } else if (!defaults_.count(rest) && rest != "initial_lr") {
        errors.push_back("unexpected key " + key + " (" + name_ + " has no such option)");
      } else if (t.shape() != Shape{3}) {
        errors.push_back(key + " has shape " + shape_str(t.shape()) + ", expected [3]");
      }
    } else {
      errors.push_back("unexpected key " + key);
    }
    seen.insert(key);
  }
  if (ckpt_groups != groups_.size())
    errors.insert(errors.begin(), "the checkpoint has " + std::to_string(ckpt_groups) + " parameter groups, the optimizer " +
                                      std::to_string(groups_.size()));
  for (size_t g = 0; g < std::min(ckpt_groups, groups_.size()); ++g) {
    std::vector<std::string> names{"params"};
    for (const auto& [name, v] : groups_[g].options) names.push_back(name);
    for (const std::string& name : names) {
      std::string key = "param_groups." + std::to_string(g) + "." + name;
      if (!seen.count(key)) errors.push_back("missing key " + key);
    }
  }
  NORMA_CHECK(errors.empty(), where, join(errors));

  // 2. Copy in: fresh state (the optimizer owns its buffers), the checkpoint's options.
  NoGradGuard no_grad;
  std::vector<State> state(params.size());
  for (const auto& [key, t] : dict) {
    size_t i;
    std::string rest;
    if (parse_key(key, "state.", i, rest)) {
      state[i][rest] = t.contiguous().clone();
    } else if (parse_key(key, "param_groups.", i, rest) && rest != "params") {
      groups_[i].options[rest] = unpack_double(t);
    }
  }
  state_ = std::move(state);
}

}  // namespace norma::optim
