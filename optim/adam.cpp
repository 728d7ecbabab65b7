// Adam and AdamW, following PyTorch 1.13's _single_tensor_adam / _single_tensor_adamw operation
// by operation: the tensors in float32, the bias corrections in double, as PyTorch does.
#include "optim/adam.h"

#include <algorithm>
#include <cmath>

namespace norma::optim {

Adam::Adam(std::string name, std::vector<ParamGroup> groups, double lr, std::pair<double, double> betas,
           double eps, double weight_decay, bool amsgrad, bool decoupled)
    : Optimizer(std::move(name),
                {{"lr", lr}, {"beta1", betas.first}, {"beta2", betas.second}, {"eps", eps},
                 {"weight_decay", weight_decay}, {"amsgrad", amsgrad ? 1.0 : 0.0}},
                {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}),
      decoupled_(decoupled) {
  init(std::move(groups));
}

void Adam::check_options(const Options& o) const {
  const std::string& n = name();
  NORMA_CHECK(o.at("lr") >= 0, n, ": invalid learning rate ", o.at("lr"), " (must be >= 0)");
  NORMA_CHECK(o.at("eps") >= 0, n, ": invalid eps ", o.at("eps"), " (must be >= 0)");
  NORMA_CHECK(o.at("beta1") >= 0 && o.at("beta1") < 1, n, ": invalid beta1 ", o.at("beta1"), " (must be in [0, 1))");
  NORMA_CHECK(o.at("beta2") >= 0 && o.at("beta2") < 1, n, ": invalid beta2 ", o.at("beta2"), " (must be in [0, 1))");
  NORMA_CHECK(o.at("weight_decay") >= 0, n, ": invalid weight_decay ", o.at("weight_decay"), " (must be >= 0)");
}

void Adam::update(const Options& o, Tensor& param, const Tensor& grad, State& state) {
  const double lr = o.at("lr"), beta1 = o.at("beta1"), beta2 = o.at("beta2"), wd = o.at("weight_decay");
  const bool amsgrad = o.at("amsgrad") != 0;
  if (!state.count("step")) {
    state["step"] = zeros({});
    state["exp_avg"] = zeros(param.shape());
    state["exp_avg_sq"] = zeros(param.shape());
  }
  if (amsgrad && !state.count("max_exp_avg_sq")) state["max_exp_avg_sq"] = zeros(param.shape());
  // step += 1 (a float tensor, as PyTorch's)
  float* step_t = state["step"].data();
  step_t[0] += 1.f;
  const double step = step_t[0];
  const double bias_correction1 = 1 - std::pow(beta1, step);
  const double bias_correction2 = 1 - std::pow(beta2, step);
  const float step_size = float(lr / bias_correction1);
  const float bc2_sqrt = float(std::sqrt(bias_correction2));
  const float b1 = float(beta1), b2 = float(beta2), one_b1 = float(1 - beta1), one_b2 = float(1 - beta2);
  const float eps = float(o.at("eps"));
  const float l2 = decoupled_ ? 0.f : float(wd);              // Adam: g + wd * p
  const float decay = decoupled_ ? float(1 - lr * wd) : 1.f;  // AdamW: p * (1 - lr * wd)

  float* p = param.data();
  const float* g = grad.data();
  float* m = state["exp_avg"].data();
  float* v = state["exp_avg_sq"].data();
  float* vmax = amsgrad ? state["max_exp_avg_sq"].data() : nullptr;
  const int64_t n = param.numel();
  // AdamW: p = p * (1 - lr * wd);  Adam: d = g + wd * p
  // m = beta1 * m + (1 - beta1) * d
  // v = beta2 * v + (1 - beta2) * d^2
  // vmax = max(vmax, v), used instead of v (amsgrad)
  // p = p - lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
#pragma omp parallel for if (n > kParallelUpdate) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    if (decay != 1.f) p[i] = p[i] * decay;
    float d = l2 != 0 ? g[i] + l2 * p[i] : g[i];
    m[i] = m[i] * b1 + one_b1 * d;
    v[i] = v[i] * b2 + one_b2 * d * d;
    float second = v[i];
    if (vmax) second = vmax[i] = std::max(vmax[i], v[i]);
    float denom = std::sqrt(second) / bc2_sqrt + eps;
    p[i] = p[i] + -step_size * m[i] / denom;
  }
}

}  // namespace norma::optim
