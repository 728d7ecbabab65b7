#include "apps/experiments/channel_noise.h"

#include <cmath>

#include "core/norma.h"
#include "layers/containers.h"

namespace norma::apps::experiments {

ChannelNoise::ChannelNoise(float a_, float b_) : Module("ChannelNoise"), a(a_), b(b_) {
  NORMA_CHECK(a >= 0 && b >= 1, "ChannelNoise: expected a >= 0 and b >= 1, got a = ", a, ", b = ", b);
}

Tensor ChannelNoise::forward(const Tensor& x) {
  NORMA_CHECK(x.dim() == 4, "ChannelNoise: expected [N, C, H, W], got ", x.shape());
  if (!is_training()) return x;
  const int64_t C = x.size(1);
  const Shape per_channel = {1, C, 1, 1};
  Tensor scale = uniform(per_channel, 1.0f / b, b);  // s_c
  Tensor shift = uniform(per_channel, -a, a);         // m_c
  Tensor noise_mean = uniform(per_channel, -a, a);    // mu_c
  Tensor noise_std = sqrt(uniform(per_channel, 1.0f / b, b));  // sqrt(v_c)
  // The additive part m_c + mu_c + sqrt(v_c) z is a constant of this step: no gradient flows
  // into it.
  Tensor additive;
  {
    NoGradGuard no_grad;
    additive = add(add(mul(randn(x.shape()), noise_std), noise_mean), shift);
  }
  return add(mul(x, scale), additive);
}

std::string ChannelNoise::extra_repr() const {
  return "a=" + std::to_string(a) + ", b=" + std::to_string(b);
}

void add_noise_after_norms(nn::Module& model, float a, float b) {
  std::vector<std::string> norms;
  for (const auto& [name, child] : model.children())
    if (name.size() > 2 && name.compare(0, 2, "bn") == 0 && name.find_first_not_of("0123456789", 2) == std::string::npos)
      norms.push_back(name);
  NORMA_CHECK(!norms.empty(), "add_noise_after_norms: ", model.type_name(), " has no child named bn1, bn2, ...");
  for (const std::string& name : norms) {
    auto seq = std::make_shared<nn::Sequential>();
    seq->push_back("norm", model.child(name));
    seq->push_back("noise", std::make_shared<ChannelNoise>(a, b));
    model.replace_module(name, seq);
  }
}

}  // namespace norma::apps::experiments
