// Weight normalization (Salimans & Kingma 2016), as torch.nn.utils.weight_norm:
//   w = g * v / ||v||   (norm over every dim except `dim`; dim=0: one g per output unit)
// The module's parameter `name` is replaced by `name_g` and `name_v`; a pre-forward hook
// recomputes `name` from them before every call, so gradients flow to g and v.
#pragma once
#include <memory>
#include <string>

#include "layers/module.h"

namespace norma::nn {

std::shared_ptr<Module> weight_norm(std::shared_ptr<Module> module, const std::string& name = "weight", int64_t dim = 0);

// Data-dependent initialisation (Salimans & Kingma Sec. 3.1) for a weight-normed Linear or
// Conv2d: runs `batch` through the module and sets g and the bias so that each output unit
// has mean 0 and variance 1 on that batch: g <- g / sigma, b <- -mu / sigma.
void weight_norm_data_init(Module& module, const Tensor& batch, const std::string& name = "weight");

}  // namespace norma::nn
