// The small networks of experiments 4-7 that are not built-in models (norma models lists those):
//
//   DeepMLP     784 - widths... - classes with ReLU. norm_first (ghost-bn): each hidden layer is
//               Linear -> norm -> ReLU (the Linear has no bias unless the norm is `none`, as in
//               the built-in mlp). Otherwise (rmsnorm's pre-norm net): Linear -> ReLU, and the
//               norm sits at the input of the next Linear: fc1, relu, norm, fc2, relu, norm, fc3.
//   DropoutCNN  dropout-shift's lenet-like net: conv 3x3 32, bn1, relu, pool, conv 3x3 64, bn2,
//               relu, pool, fc 3136-128, bn3, relu, fc 128-10 (BatchNorm throughout), with
//               Dropout(q) either in front of every BN that follows a hidden layer (bn2, bn3:
//               "before"; bn1 sees the image) or only after the last BN (before fc2: "after").
//
// Both can record the input of each norm layer (taps) during a forward, which is how the
// experiments measure the variance each BN sees.
#pragma once
#include <cstdint>
#include <vector>

#include "layers/module.h"
#include "layers/norm/factory.h"

namespace norma::apps::experiments {

class DeepMLP : public nn::Module {
 public:
  DeepMLP(const std::vector<int64_t>& widths, const nn::NormConfig& norm, bool norm_first = true,
          int64_t num_classes = 10);
  Tensor forward(const Tensor& x) override;  // x: [N, 784] or [N, 1, 28, 28]
  int64_t depth;                             // hidden layers
  bool norm_first;
  std::vector<Tensor>* taps = nullptr;       // when set, each norm's input is appended
};

class DropoutCNN : public nn::Module {
 public:
  enum class Place { BeforeEveryBN, AfterLastBN };
  DropoutCNN(Place place, float q, int64_t num_classes = 10);
  Tensor forward(const Tensor& x) override;  // x: [N, 1, 28, 28]
  Place place;
  std::vector<Tensor>* taps = nullptr;       // when set, the inputs of bn1, bn2, bn3 are appended
};

// Re-estimates every BatchNorm's running statistics (Li et al.'s remedy): resets them, sets
// a cumulative average (momentum unset), then runs `batches` forwards with the BN layers in
// training mode and everything else (the dropouts) in eval mode, without gradients. The
// model ends in eval mode with the BN momentum restored.
void recalibrate_batch_norm(nn::Module& model, const std::vector<Tensor>& batches);

}  // namespace norma::apps::experiments
