// SGD, following torch.optim.SGD (PyTorch 1.13, _single_tensor_sgd) operation by operation in
// float32, with the hyperparameters rounded to float as PyTorch's kernels do.
#include "optim/sgd.h"

namespace norma::optim {

SGD::SGD(std::vector<ParamGroup> groups, double lr, double momentum, double dampening, double weight_decay,
         bool nesterov)
    : Optimizer("SGD",
                {{"lr", lr}, {"momentum", momentum}, {"dampening", dampening},
                 {"weight_decay", weight_decay}, {"nesterov", nesterov ? 1.0 : 0.0}},
                {"momentum_buffer"}) {
  init(std::move(groups));
}

void SGD::check_options(const Options& o) const {
  NORMA_CHECK(o.at("lr") >= 0, "SGD: invalid learning rate ", o.at("lr"), " (must be >= 0)");
  NORMA_CHECK(o.at("momentum") >= 0, "SGD: invalid momentum ", o.at("momentum"), " (must be >= 0)");
  NORMA_CHECK(o.at("weight_decay") >= 0, "SGD: invalid weight_decay ", o.at("weight_decay"), " (must be >= 0)");
  NORMA_CHECK(o.at("nesterov") == 0 || (o.at("momentum") > 0 && o.at("dampening") == 0),
              "SGD: Nesterov momentum requires a momentum > 0 and zero dampening (got momentum ",
              o.at("momentum"), ", dampening ", o.at("dampening"), ")");
}

void SGD::update(const Options& o, Tensor& param, const Tensor& grad, State& state) {
  const float lr = float(o.at("lr")), wd = float(o.at("weight_decay"));
  const float momentum = float(o.at("momentum")), damp = float(1.0 - o.at("dampening"));
  const bool nesterov = o.at("nesterov") != 0;
  float* p = param.data();
  const float* g = grad.data();
  float* buf = nullptr;
  bool first = false;
  if (momentum != 0) {
    first = !state.count("momentum_buffer");
    if (first) state["momentum_buffer"] = empty(param.shape());
    buf = state["momentum_buffer"].data();
  }
  const int64_t n = param.numel();
  // d = g + wd * p
  // buf = d on the first step, else momentum * buf + (1 - dampening) * d
  // d = nesterov ? d + momentum * buf : buf
  // p = p - lr * d
#pragma omp parallel for if (n > kParallelUpdate) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    float d = wd != 0 ? g[i] + wd * p[i] : g[i];
    if (buf) {
      buf[i] = first ? d : momentum * buf[i] + damp * d;
      d = nesterov ? d + momentum * buf[i] : buf[i];
    }
    p[i] = p[i] - lr * d;
  }
}

}  // namespace norma::optim
