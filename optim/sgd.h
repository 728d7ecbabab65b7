// SGD with momentum, dampening, Nesterov and L2 weight decay: torch.optim.SGD's rule exactly.
#pragma once
#include "optim/optimizer.h"

namespace norma::optim {

// Options: lr, momentum, dampening, weight_decay, nesterov (0 or 1).
// State: momentum_buffer (when momentum != 0).
class SGD : public Optimizer {
 public:
  SGD(std::vector<ParamGroup> groups, double lr, double momentum = 0, double dampening = 0,
      double weight_decay = 0, bool nesterov = false);
  SGD(std::vector<Tensor> params, double lr, double momentum = 0, double dampening = 0,
      double weight_decay = 0, bool nesterov = false)
      : SGD(std::vector<ParamGroup>{ParamGroup(std::move(params))}, lr, momentum, dampening, weight_decay,
            nesterov) {}

 protected:
  void check_options(const Options& options) const override;
  void update(const Options& options, Tensor& p, const Tensor& grad, State& state) override;
};

}  // namespace norma::optim
