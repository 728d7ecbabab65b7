// InstanceNorm1d / InstanceNorm2d (Ulyanov et al. 2016), as torch.nn.InstanceNorm1d/2d:
// statistics per (sample, channel) over the spatial dims. PyTorch's defaults: affine=false,
// track_running_stats=false; with track_running_stats the running statistics are the batch
// mean of the per-instance statistics (unbiased variance) and eval uses them.
#pragma once
#include <optional>

#include "layers/module.h"

namespace norma::nn {

class InstanceNorm : public Module {
 public:
  InstanceNorm(const std::string& type_name, int64_t num_features, float eps, std::optional<float> momentum,
               bool affine, bool track_running_stats);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  int64_t num_features;
  float eps;
  std::optional<float> momentum;
  bool affine, track_running_stats;

 protected:
  virtual void check_input(const Tensor& x) const = 0;
};

class InstanceNorm1d : public InstanceNorm {
 public:
  explicit InstanceNorm1d(int64_t num_features, float eps = 1e-5f, std::optional<float> momentum = 0.1f,
                          bool affine = false, bool track_running_stats = false);

 protected:
  void check_input(const Tensor& x) const override;
};

class InstanceNorm2d : public InstanceNorm {
 public:
  explicit InstanceNorm2d(int64_t num_features, float eps = 1e-5f, std::optional<float> momentum = 0.1f,
                          bool affine = false, bool track_running_stats = false);

 protected:
  void check_input(const Tensor& x) const override;
};

}  // namespace norma::nn
