// Adam and AdamW: torch.optim.Adam / AdamW (PyTorch 1.13) exactly, amsgrad included.
#pragma once
#include <utility>

#include "optim/optimizer.h"

namespace norma::optim {

// Options: lr, beta1, beta2 (PyTorch's "betas"), eps, weight_decay, amsgrad (0 or 1).
// State: step (a float count of shape [], as PyTorch's), exp_avg, exp_avg_sq, and
// max_exp_avg_sq with amsgrad.
// Adam's weight decay is L2 (added to the gradient).
class Adam : public Optimizer {
 public:
  Adam(std::vector<ParamGroup> groups, double lr = 1e-3, std::pair<double, double> betas = {0.9, 0.999},
       double eps = 1e-8, double weight_decay = 0, bool amsgrad = false)
      : Adam("Adam", std::move(groups), lr, betas, eps, weight_decay, amsgrad, false) {}
  Adam(std::vector<Tensor> params, double lr = 1e-3, std::pair<double, double> betas = {0.9, 0.999},
       double eps = 1e-8, double weight_decay = 0, bool amsgrad = false)
      : Adam(std::vector<ParamGroup>{ParamGroup(std::move(params))}, lr, betas, eps, weight_decay, amsgrad) {}

 protected:
  Adam(std::string name, std::vector<ParamGroup> groups, double lr, std::pair<double, double> betas, double eps,
       double weight_decay, bool amsgrad, bool decoupled);
  void check_options(const Options& options) const override;
  void update(const Options& options, Tensor& p, const Tensor& grad, State& state) override;

 private:
  bool decoupled_;  // AdamW: decay the weights directly, not through the gradient
};

// AdamW's weight decay is decoupled: p *= 1 - lr * weight_decay before the Adam step.
class AdamW : public Adam {
 public:
  AdamW(std::vector<ParamGroup> groups, double lr = 1e-3, std::pair<double, double> betas = {0.9, 0.999},
        double eps = 1e-8, double weight_decay = 1e-2, bool amsgrad = false)
      : Adam("AdamW", std::move(groups), lr, betas, eps, weight_decay, amsgrad, true) {}
  AdamW(std::vector<Tensor> params, double lr = 1e-3, std::pair<double, double> betas = {0.9, 0.999},
        double eps = 1e-8, double weight_decay = 1e-2, bool amsgrad = false)
      : AdamW(std::vector<ParamGroup>{ParamGroup(std::move(params))}, lr, betas, eps, weight_decay, amsgrad) {}
};

}  // namespace norma::optim
