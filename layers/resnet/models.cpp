#include "layers/resnet/models.h"

#include <functional>

#include "core/ops/pool.h"
#include "core/ops/shape_ops.h"
#include "core/ops/unary.h"
#include "layers/containers.h"
#include "layers/init.h"
#include "layers/linear.h"

namespace norma::nn {

namespace {

std::shared_ptr<Conv2d> conv3x3(int64_t in, int64_t out, int64_t stride, bool bias) {
  return std::make_shared<Conv2d>(in, out, 3, stride, 1, 1, 1, bias);
}

Tensor call(Module& m, const std::string& name, const Tensor& x) { return (*m.child(name))(x); }

}  // namespace

// ---- mlp ------------------------------------------------------------------------------------

// fc1 bn1 sigmoid fc2 bn2 sigmoid fc3 bn3 sigmoid fc4; with `none` the bnX are Identity and
// fc1..fc3 get their bias back.
MLP::MLP(const NormConfig& norm, int64_t num_classes) : Module("MLP") {
  bool bias = conv_bias(norm);
  register_module("fc1", std::make_shared<Linear>(784, 100, bias));
  register_module("bn1", make_norm1d(norm, 100));
  register_module("fc2", std::make_shared<Linear>(100, 100, bias));
  register_module("bn2", make_norm1d(norm, 100));
  register_module("fc3", std::make_shared<Linear>(100, 100, bias));
  register_module("bn3", make_norm1d(norm, 100));
  register_module("fc4", std::make_shared<Linear>(100, num_classes));
}

Tensor MLP::forward(const Tensor& x) {
  NORMA_CHECK(x.dim() >= 2 && x.numel() == x.size(0) * 784, "MLP: expected input [N, 784] or [N, 1, 28, 28], got ",
              x.shape());
  Tensor h = reshape(x, {x.size(0), 784});
  h = sigmoid(call(*this, "bn1", call(*this, "fc1", h)));
  h = sigmoid(call(*this, "bn2", call(*this, "fc2", h)));
  h = sigmoid(call(*this, "bn3", call(*this, "fc3", h)));
  return call(*this, "fc4", h);
}

// ---- lenet ----------------------------------------------------------------------------------

LeNet::LeNet(const NormConfig& norm, int64_t num_classes) : Module("LeNet") {
  bool bias = conv_bias(norm);
  register_module("conv1", conv3x3(1, 32, 1, bias));
  register_module("bn1", make_norm2d(norm, 32));
  register_module("conv2", conv3x3(32, 64, 1, bias));
  register_module("bn2", make_norm2d(norm, 64));
  // The hidden fully connected layer is normalized too, as Ioffe & Szegedy normalize every
  // hidden layer, and there is no dropout ("Remove Dropout", their Sec. 4.2.1): with dropout
  // 0.5 and no bn3, one epoch of the default run reached only 98.1-98.3%. InstanceNorm has no
  // statistics over [N, 128] features, so with `in` fc1 stays unnormalized (and keeps a bias).
  NormConfig fc_norm = norm;
  if (norm.kind == "in") fc_norm.kind = "none";
  register_module("fc1", std::make_shared<Linear>(64 * 7 * 7, 128, conv_bias(fc_norm)));
  register_module("bn3", make_norm1d(fc_norm, 128));
  register_module("fc2", std::make_shared<Linear>(128, num_classes));
}

Tensor LeNet::forward(const Tensor& x) {
  NORMA_CHECK(x.dim() == 4 && x.size(1) == 1 && x.size(2) == 28 && x.size(3) == 28,
              "LeNet: expected input [N, 1, 28, 28], got ", x.shape());
  Tensor h = max_pool2d(relu(call(*this, "bn1", call(*this, "conv1", x))), 2);  // [N, 32, 14, 14]
  h = max_pool2d(relu(call(*this, "bn2", call(*this, "conv2", h))), 2);         // [N, 64, 7, 7]
  h = relu(call(*this, "bn3", call(*this, "fc1", flatten(h, 1))));             // [N, 128]
  return call(*this, "fc2", h);
}

// ---- vgg ------------------------------------------------------------------------------------

namespace {
constexpr int64_t kVggWidths[6] = {32, 32, 64, 64, 128, 128};
}

SmallVGG::SmallVGG(const NormConfig& norm, int64_t num_classes) : Module("SmallVGG") {
  bool bias = conv_bias(norm);
  int64_t in = 3;
  for (int i = 0; i < 6; ++i) {
    register_module("conv" + std::to_string(i + 1), conv3x3(in, kVggWidths[i], 1, bias));
    register_module("bn" + std::to_string(i + 1), make_norm2d(norm, kVggWidths[i]));
    in = kVggWidths[i];
  }
  register_module("fc", std::make_shared<Linear>(in, num_classes));
}

Tensor SmallVGG::forward(const Tensor& x) {
  NORMA_CHECK(x.dim() == 4 && x.size(1) == 3 && x.size(2) % 8 == 0 && x.size(3) % 8 == 0 && x.size(2) > 0 &&
                  x.size(3) > 0,
              "SmallVGG: expected input [N, 3, H, W] with H, W multiples of 8, got ", x.shape());
  Tensor h = x;
  for (int i = 1; i <= 6; ++i) {
    h = relu(call(*this, "bn" + std::to_string(i), call(*this, "conv" + std::to_string(i), h)));
    if (i % 2 == 0) h = max_pool2d(h, 2);
  }
  return call(*this, "fc", global_avg_pool2d(h));
}

// ---- CIFAR ResNets --------------------------------------------------------------------------

CifarResNet::CifarResNet(BlockType b, int64_t n, const NormConfig& norm, Shortcut shortcut, int64_t num_classes)
    : Module("CifarResNet"), block(b), preact(b == BlockType::PreAct || b == BlockType::PreActBottleneck) {
  NORMA_CHECK(n >= 1, "CifarResNet: blocks_per_stage must be >= 1, got ", n);
  bool bottleneck = b == BlockType::Bottleneck || b == BlockType::PreActBottleneck;
  int64_t expansion = bottleneck ? 4 : 1;
  register_module("conv1", conv3x3(3, 16, 1, conv_bias(norm)));
  if (!preact) register_module("bn1", make_norm2d(norm, 16));
  int64_t in = 16;
  const int64_t widths[3] = {16, 32, 64};
  for (int k = 0; k < 3; ++k) {
    auto stage = std::make_shared<Sequential>();
    for (int64_t i = 0; i < n; ++i) {
      int64_t stride = (k > 0 && i == 0) ? 2 : 1;
      std::shared_ptr<Module> blk;
      switch (b) {
        case BlockType::Basic: blk = std::make_shared<BasicBlock>(in, widths[k], stride, norm, shortcut); break;
        case BlockType::PreAct: blk = std::make_shared<PreActBlock>(in, widths[k], stride, norm, shortcut); break;
        case BlockType::Bottleneck: blk = std::make_shared<Bottleneck>(in, widths[k], stride, norm, shortcut); break;
        case BlockType::PreActBottleneck:
          blk = std::make_shared<PreActBottleneck>(in, widths[k], stride, norm, shortcut);
          break;
      }
      stage->push_back(blk);
      in = widths[k] * expansion;
    }
    register_module("layer" + std::to_string(k + 1), stage);
  }
  if (preact) register_module("bn", make_norm2d(norm, in));
  register_module("fc", std::make_shared<Linear>(in, num_classes));

  // He et al. initialise with N(0, 2 / fan_in) ("MSRA"); as the common PyTorch CIFAR code, on
  // the linear layer's weight too. Norm layers keep weight 1, bias 0; biases their defaults.
  apply([](Module& m) {
    if (m.type_name() == "Conv2d" || m.type_name() == "Linear") init::kaiming_normal_(m.param("weight"));
  });
}

// post: relu(bn1(conv1 x)) -> stages -> pool -> fc;  pre: conv1 x -> stages -> relu(bn) -> pool -> fc
Tensor CifarResNet::forward(const Tensor& x) {
  NORMA_CHECK(x.dim() == 4 && x.size(1) == 3, "CifarResNet: expected input [N, 3, H, W], got ", x.shape());
  Tensor h = call(*this, "conv1", x);
  if (!preact) h = relu(call(*this, "bn1", h));
  h = call(*this, "layer3", call(*this, "layer2", call(*this, "layer1", h)));
  if (preact) h = relu(call(*this, "bn", h));
  return call(*this, "fc", global_avg_pool2d(h));
}

std::string CifarResNet::extra_repr() const {
  const char* names[] = {"BasicBlock", "PreActBlock", "Bottleneck", "PreActBottleneck"};
  return std::string("block=") + names[int(block)];
}

// ---- The registry ---------------------------------------------------------------------------

namespace {

using Builder = std::function<std::shared_ptr<Module>(const NormConfig&, int64_t)>;
struct Entry {
  ModelInfo info;
  Builder build;
};

Builder resnet(BlockType b, int64_t n, Shortcut s = Shortcut::A) {
  return [=](const NormConfig& norm, int64_t classes) { return std::make_shared<CifarResNet>(b, n, norm, s, classes); };
}

const std::vector<Entry>& registry() {
  const Shape mnist = {1, 28, 28}, cifar = {3, 32, 32};
  static const std::vector<Entry> entries = {
      {{"mlp", "Ioffe & Szegedy's MNIST MLP: 784-100-100-100-10, sigmoid, a norm before each sigmoid", mnist},
       [](const NormConfig& n, int64_t c) { return std::make_shared<MLP>(n, c); }},
      {{"lenet", "MNIST convnet: 2 x (conv 3x3 32/64, norm, relu, maxpool), fc 3136-128, norm, relu, fc 128-10",
        mnist},
       [](const NormConfig& n, int64_t c) { return std::make_shared<LeNet>(n, c); }},
      {{"vgg", "small CIFAR VGG: conv 32-32-pool-64-64-pool-128-128-pool, each + norm + relu, global avg pool, fc",
        cifar},
       [](const NormConfig& n, int64_t c) { return std::make_shared<SmallVGG>(n, c); }},
      {{"resnet20", "CIFAR ResNet-20 (He et al. 2016a): 3x3 basic blocks, widths 16/32/64, option A, 0.27M", cifar},
       resnet(BlockType::Basic, 3)},
      {{"resnet32", "CIFAR ResNet-32 (He et al. 2016a): 3x5 basic blocks, option A, 0.46M", cifar},
       resnet(BlockType::Basic, 5)},
      {{"resnet44", "CIFAR ResNet-44 (He et al. 2016a): 3x7 basic blocks, option A, 0.66M", cifar},
       resnet(BlockType::Basic, 7)},
      {{"resnet56", "CIFAR ResNet-56 (He et al. 2016a): 3x9 basic blocks, option A, 0.85M", cifar},
       resnet(BlockType::Basic, 9)},
      {{"resnet110", "CIFAR ResNet-110 (He et al. 2016a): 3x18 basic blocks, option A, 1.7M", cifar},
       resnet(BlockType::Basic, 18)},
      {{"preact-resnet20", "pre-activation ResNet-20 (He et al. 2016b): 3x3 pre-act basic blocks, option A", cifar},
       resnet(BlockType::PreAct, 3)},
      {{"preact-resnet56", "pre-activation ResNet-56 (He et al. 2016b): 3x9 pre-act basic blocks, option A", cifar},
       resnet(BlockType::PreAct, 9)},
      {{"preact-resnet110", "pre-activation ResNet-110 (He et al. 2016b): 3x18 pre-act basic blocks, option A",
        cifar},
       resnet(BlockType::PreAct, 18)},
      {{"preact-resnet164",
        "pre-activation ResNet-164 (He et al. 2016b): 3x18 pre-act bottlenecks (out 64/128/256), option A", cifar},
       resnet(BlockType::PreActBottleneck, 18)},
      {{"plain20", "plain-20 (He et al. 2016a): resnet20 without shortcuts", cifar},
       resnet(BlockType::Basic, 3, Shortcut::None)},
      {{"plain56", "plain-56 (He et al. 2016a): resnet56 without shortcuts", cifar},
       resnet(BlockType::Basic, 9, Shortcut::None)},
  };
  return entries;
}

const Entry& entry(const std::string& name) {
  for (const auto& e : registry())
    if (e.info.name == name) return e;
  std::string list;
  for (const auto& e : registry()) list += (list.empty() ? "" : ", ") + e.info.name;
  throw Error("make_model: unknown model '" + name + "'; valid models: " + list);
}

}  // namespace

const std::vector<ModelInfo>& model_infos() {
  static const std::vector<ModelInfo> infos = [] {
    std::vector<ModelInfo> v;
    for (const auto& e : registry()) v.push_back(e.info);
    return v;
  }();
  return infos;
}

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const auto& e : registry()) names.push_back(e.info.name);
  return names;
}

const ModelInfo& model_info(const std::string& name) { return entry(name).info; }

std::shared_ptr<Module> make_model(const std::string& name, const NormConfig& norm, int64_t num_classes) {
  NORMA_CHECK(num_classes > 0, "make_model: num_classes must be positive, got ", num_classes);
  check_norm_config(norm);
  return entry(name).build(norm, num_classes);
}

}  // namespace norma::nn
