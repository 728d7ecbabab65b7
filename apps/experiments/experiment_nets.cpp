#include "apps/experiments/experiment_nets.h"

#include <string>

#include "core/norma.h"
#include "layers/conv2d.h"
#include "layers/dropout.h"
#include "layers/linear.h"
#include "layers/norm/batch_norm.h"

namespace norma::apps::experiments {
namespace {
Tensor call(nn::Module& m, const std::string& name, const Tensor& x) { return (*m.child(name))(x); }

// The input of norm layer `name`, recorded when taps are on, then the layer's output.
Tensor tapped(nn::Module& m, const std::string& name, const Tensor& x, std::vector<Tensor>* taps) {
  if (taps) taps->push_back(x.detach());
  return call(m, name, x);
}
}  // namespace

// ---- DeepMLP ------------------------------------------------------------------------------------

DeepMLP::DeepMLP(const std::vector<int64_t>& widths, const nn::NormConfig& norm, bool norm_first_,
                 int64_t num_classes)
    : Module("DeepMLP"), depth(int64_t(widths.size())), norm_first(norm_first_) {
  NORMA_CHECK(!widths.empty(), "DeepMLP: needs at least one hidden layer");
  // A norm right after a Linear makes its bias redundant; a pre-norm net keeps them.
  const bool bias = !norm_first || nn::conv_bias(norm);
  int64_t in = 784;
  for (int64_t i = 0; i < depth; ++i) {
    const std::string k = std::to_string(i + 1);
    register_module("fc" + k, std::make_shared<nn::Linear>(in, widths[size_t(i)], bias));
    register_module("norm" + k, nn::make_norm1d(norm, widths[size_t(i)]));
    in = widths[size_t(i)];
  }
  register_module("fc" + std::to_string(depth + 1), std::make_shared<nn::Linear>(in, num_classes));
}

Tensor DeepMLP::forward(const Tensor& x) {
  NORMA_CHECK(x.dim() >= 2 && x.numel() == x.size(0) * 784,
              "DeepMLP: expected input [N, 784] or [N, 1, 28, 28], got ", x.shape());
  Tensor h = reshape(x, {x.size(0), 784});
  for (int64_t i = 1; i <= depth; ++i) {
    const std::string k = std::to_string(i);
    h = call(*this, "fc" + k, h);
    h = norm_first ? relu(tapped(*this, "norm" + k, h, taps))   // Linear -> norm -> ReLU
                   : tapped(*this, "norm" + k, relu(h), taps);  // Linear -> ReLU -> norm (-> next Linear)
  }
  return call(*this, "fc" + std::to_string(depth + 1), h);
}

// ---- DropoutCNN ---------------------------------------------------------------------------------

DropoutCNN::DropoutCNN(Place place_, float q, int64_t num_classes) : Module("DropoutCNN"), place(place_) {
  register_module("conv1", std::make_shared<nn::Conv2d>(1, 32, 3, 1, 1, 1, 1, false));
  register_module("bn1", std::make_shared<nn::BatchNorm2d>(32));
  register_module("conv2", std::make_shared<nn::Conv2d>(32, 64, 3, 1, 1, 1, 1, false));
  register_module("bn2", std::make_shared<nn::BatchNorm2d>(64));
  register_module("fc1", std::make_shared<nn::Linear>(64 * 7 * 7, 128, false));
  register_module("bn3", std::make_shared<nn::BatchNorm1d>(128));
  register_module("fc2", std::make_shared<nn::Linear>(128, num_classes));
  if (place == Place::BeforeEveryBN) {
    register_module("drop2", std::make_shared<nn::Dropout>(q));  // in front of conv2 -> bn2
    register_module("drop3", std::make_shared<nn::Dropout>(q));  // in front of fc1 -> bn3
  } else {
    register_module("drop", std::make_shared<nn::Dropout>(q));   // after bn3, in front of fc2
  }
}

Tensor DropoutCNN::forward(const Tensor& x) {
  NORMA_CHECK(x.dim() == 4 && x.size(1) == 1 && x.size(2) == 28 && x.size(3) == 28,
              "DropoutCNN: expected input [N, 1, 28, 28], got ", x.shape());
  const bool before = place == Place::BeforeEveryBN;
  Tensor h = max_pool2d(relu(tapped(*this, "bn1", call(*this, "conv1", x), taps)), 2);  // [N, 32, 14, 14]
  if (before) h = call(*this, "drop2", h);
  h = max_pool2d(relu(tapped(*this, "bn2", call(*this, "conv2", h), taps)), 2);         // [N, 64, 7, 7]
  h = flatten(h, 1);
  if (before) h = call(*this, "drop3", h);
  h = relu(tapped(*this, "bn3", call(*this, "fc1", h), taps));                          // [N, 128]
  if (!before) h = call(*this, "drop", h);
  return call(*this, "fc2", h);
}

// ---- BN recalibration ---------------------------------------------------------------------------

void recalibrate_batch_norm(nn::Module& model, const std::vector<Tensor>& batches) {
  std::vector<std::pair<nn::BatchNorm*, std::optional<float>>> bns;
  model.eval();
  for (auto& [name, m] : model.named_modules())
    if (auto* bn = dynamic_cast<nn::BatchNorm*>(m)) {
      bns.emplace_back(bn, bn->momentum);
      bn->reset_running_stats();
      bn->momentum = std::nullopt;  // cumulative average: every batch weighs the same
      bn->train();
    }
  NoGradGuard no_grad;
  for (const Tensor& b : batches) model(b);
  for (auto& [bn, momentum] : bns) bn->momentum = momentum, bn->eval();
}

}  // namespace norma::apps::experiments
