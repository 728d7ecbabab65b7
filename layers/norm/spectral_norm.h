// Spectral normalization (Miyato et al. 2018), as torch.nn.utils.spectral_norm:
//   W_sn = W / sigma(W),  sigma estimated by power iteration on W viewed as [out, in*kh*kw]:
//     v = normalize(W^T u),  u = normalize(W v),  sigma = u^T W v
// u (buffer `name_u`, persistent) and v (`name_v`) carry over between calls; in training each
// forward runs n_power_iterations steps, in eval none. The parameter `name` becomes
// `name_orig`; a pre-forward hook computes `name`.
#pragma once
#include <memory>
#include <string>

#include "layers/module.h"

namespace norma::nn {

std::shared_ptr<Module> spectral_norm(std::shared_ptr<Module> module, const std::string& name = "weight",
                                      int64_t n_power_iterations = 1, float eps = 1e-12f);

}  // namespace norma::nn
