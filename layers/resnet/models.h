// The built-in models, by name, each taking its normalization from the factory:
//
//   mlp               Ioffe & Szegedy (2015)'s MNIST net: 784-100-100-100-10, sigmoid; a norm
//                     before each sigmoid (the Linear before it then has no bias)
//   lenet             a LeNet-style MNIST convnet: 2 x (conv 3x3, norm, relu, maxpool 2),
//                     fc 3136-128, norm, relu, fc 128-10 (no dropout; with `in`, whose
//                     statistics need spatial dims, fc1 is unnormalized)
//   vgg               a small CIFAR VGG: 32-32-pool-64-64-pool-128-128-pool (conv 3x3, norm,
//                     relu), global average pool, fc 128-10
//   resnetD           He et al. (2016a)'s CIFAR ResNets, D = 6n+2 in {20, 32, 44, 56, 110}:
//                     conv 3x3 16, 3 stages of n BasicBlocks (16/32/64, stride 1/2/2), option A
//                     shortcuts, global average pool, fc 64-10
//   preact-resnetD    He et al. (2016b)'s pre-activation version, D in {20, 56, 110}; 164 is
//                     9n+2 with PreActBottlenecks (outputs 64/128/256); a final norm + relu
//                     before the pool
//   plainD            the ResNet without shortcuts, D in {20, 56}
//
// State-dict names follow torchvision: conv1, bn1, layerK.i.conv1, layerK.i.bn1, ..., fc (the
// norm modules are called bnX whatever their kind; pre-activation nets end with `bn`).
// Initialisation: the layers' own (PyTorch's defaults), except the CIFAR ResNets (all three
// families), whose conv and linear weights are kaiming_normal_ (fan_in, gain sqrt(2)) as in
// He et al. and the common PyTorch CIFAR ResNet code. (The mlp experiment sets its own
// N(0, 0.01^2) init.)
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "layers/norm/factory.h"
#include "layers/resnet/blocks.h"

namespace norma::nn {

struct ModelInfo {
  std::string name;
  std::string description;
  Shape input_shape;  // one sample: [1, 28, 28] (MNIST) or [3, 32, 32] (CIFAR)
};

// Every built-in model, in a fixed order.
const std::vector<ModelInfo>& model_infos();
std::vector<std::string> model_names();
// Throws, listing the valid names, for an unknown model.
const ModelInfo& model_info(const std::string& name);
std::shared_ptr<Module> make_model(const std::string& name, const NormConfig& norm = {}, int64_t num_classes = 10);

class MLP : public Module {
 public:
  MLP(const NormConfig& norm, int64_t num_classes = 10);
  Tensor forward(const Tensor& x) override;  // x: [N, 784] or [N, 1, 28, 28] (flattened)
};

class LeNet : public Module {
 public:
  LeNet(const NormConfig& norm, int64_t num_classes = 10);
  Tensor forward(const Tensor& x) override;  // x: [N, 1, 28, 28]
};

class SmallVGG : public Module {
 public:
  SmallVGG(const NormConfig& norm, int64_t num_classes = 10);
  Tensor forward(const Tensor& x) override;  // x: [N, 3, H, W], H and W multiples of 8
};

enum class BlockType { Basic, PreAct, Bottleneck, PreActBottleneck };

class CifarResNet : public Module {
 public:
  // blocks_per_stage: n; the depth is 6n+2 (basic) or 9n+2 (bottleneck).
  CifarResNet(BlockType block, int64_t blocks_per_stage, const NormConfig& norm, Shortcut shortcut = Shortcut::A,
              int64_t num_classes = 10);
  Tensor forward(const Tensor& x) override;  // x: [N, 3, H, W]
  std::string extra_repr() const override;
  BlockType block;
  bool preact;
};

}  // namespace norma::nn
