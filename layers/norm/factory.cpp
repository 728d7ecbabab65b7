#include "layers/norm/factory.h"

#include <algorithm>
#include <limits>

#include "core/ops/elementwise.h"
#include "core/ops/shape_ops.h"
#include "layers/containers.h"
#include "layers/norm/batch_norm.h"
#include "layers/norm/ghost_batch_norm.h"
#include "layers/norm/group_norm.h"
#include "layers/norm/instance_norm.h"
#include "layers/norm/layer_norm.h"
#include "layers/norm/rms_norm.h"
#include "layers/norm/sync_batch_norm.h"

namespace norma::nn {

const std::vector<std::string>& norm_kinds() {
  static const std::vector<std::string> kinds = {"bn", "ghost", "sync", "gn", "ln", "in", "rms", "none"};
  return kinds;
}

void check_norm_config(const NormConfig& config) {
  bool known = false;
  for (const auto& k : norm_kinds()) known = known || k == config.kind;
  if (!known) {
    std::string list;
    for (const auto& k : norm_kinds()) list += (list.empty() ? "" : ", ") + k;
    throw Error("norm: unknown kind '" + config.kind + "'; valid kinds: " + list);
  }
  NORMA_CHECK(config.kind != "ghost" || config.ghost_batch_size > 0,
              "norm: ghost_batch_size must be positive, got ", config.ghost_batch_size);
  NORMA_CHECK(config.kind != "gn" || config.groups > 0, "norm: gn groups must be positive, got ", config.groups);
}

bool conv_bias(const NormConfig& config) {
  check_norm_config(config);
  return config.kind == "none";
}

int64_t gn_groups(int64_t channels, int64_t max_groups) {
  NORMA_CHECK(channels > 0 && max_groups > 0, "gn_groups: channels and groups must be positive, got ", channels,
              " and ", max_groups);
  int64_t g = std::min(channels, max_groups);
  while (channels % g != 0) --g;  // stops at 1 at the latest
  return g;
}

std::shared_ptr<Module> make_norm2d(const NormConfig& config, int64_t channels) {
  check_norm_config(config);
  NORMA_CHECK(channels > 0, "make_norm2d: channels must be positive, got ", channels);
  const std::string& k = config.kind;
  if (k == "bn") return std::make_shared<BatchNorm2d>(channels);
  if (k == "ghost") return std::make_shared<GhostBatchNorm>(channels, config.ghost_batch_size);
  if (k == "sync") return std::make_shared<SyncBatchNorm>(channels);
  if (k == "gn") return std::make_shared<GroupNorm>(gn_groups(channels, config.groups), channels);
  if (k == "ln") return std::make_shared<GroupNorm>(1, channels);
  // affine=true (PyTorch's default is false) so that every kind learns a per-channel scale
  // and shift; the statistics are per instance, so there are no running ones to track.
  if (k == "in") return std::make_shared<InstanceNorm2d>(channels, 1e-5f, 0.1f, /*affine=*/true);
  if (k == "rms") return std::make_shared<RMSNorm2d>(channels);
  return std::make_shared<Identity>();  // none
}

std::shared_ptr<Module> make_norm1d(const NormConfig& config, int64_t features) {
  check_norm_config(config);
  NORMA_CHECK(features > 0, "make_norm1d: features must be positive, got ", features);
  const std::string& k = config.kind;
  if (k == "bn") return std::make_shared<BatchNorm1d>(features);
  if (k == "ghost") return std::make_shared<GhostBatchNorm>(features, config.ghost_batch_size);
  if (k == "sync") return std::make_shared<SyncBatchNorm>(features);
  if (k == "gn") return std::make_shared<GroupNorm>(gn_groups(features, config.groups), features);
  if (k == "ln") return std::make_shared<LayerNorm>(Shape{features});
  // Instance statistics of [N, C] features are over one value each: the output would be the
  // bias alone. Refuse rather than build a network that cannot learn.
  NORMA_CHECK(k != "in", "make_norm1d: norm 'in' needs spatial dims; [N, C] features have one value per "
              "(sample, channel) (use it with a convolutional model)");
  if (k == "rms") return std::make_shared<RMSNorm>(Shape{features});
  return std::make_shared<Identity>();  // none
}

// ---- RMSNorm2d ------------------------------------------------------------------------------

RMSNorm2d::RMSNorm2d(int64_t c, std::optional<float> eps_) : Module("RMSNorm2d"), num_channels(c), eps(eps_) {
  NORMA_CHECK(c > 0, "RMSNorm2d: num_channels must be positive, got ", c);
  register_parameter("weight", ones({c}));
}

// y = rms_norm(x over (C, H, W)) * weight[c]: the fused op normalizes, the broadcast multiply
// by weight viewed as [1, C, 1, 1] applies the per-channel scale (its gradient is the sum of
// dy * x_hat over N, H, W, which the broadcast's backward computes).
Tensor RMSNorm2d::forward(const Tensor& x) {
  NORMA_CHECK(x.dim() == 4 && x.size(1) == num_channels, "RMSNorm2d: expected input [N, ", num_channels,
              ", H, W], got ", x.shape());
  float e = eps ? *eps : std::numeric_limits<float>::epsilon();
  Tensor xhat = rms_norm(x, {x.size(1), x.size(2), x.size(3)}, Tensor(), e);
  return xhat * reshape(param("weight"), {1, num_channels, 1, 1});
}

std::string RMSNorm2d::extra_repr() const {
  std::string s = std::to_string(num_channels);
  if (eps) s += ", eps=" + std::to_string(*eps);
  return s;
}

}  // namespace norma::nn
