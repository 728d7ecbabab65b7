// ResNet building blocks, with the norm from the factory (layers/norm/factory.h).
//
//   BasicBlock        (He et al. 2016a, post-activation)  relu(bn2(conv2(relu(bn1(conv1 x)))) + s(x))
//   PreActBlock       (He et al. 2016b, pre-activation)   conv2(relu(bn2(conv1(relu(bn1 x))))) + s(x)
//   Bottleneck        (2016a)  1x1 reduce, 3x3 (carries the stride), 1x1 expand x4; bn after each
//   PreActBottleneck  (2016b)  the same convs, each preceded by norm + relu
//
// Shortcut s, used where the block changes the shape (stride != 1 or other channel count);
// otherwise s is the identity:
//   A     parameter-free: subsample x[:, :, ::stride, ::stride], append zero channels
//         (He et al. 2016a's CIFAR option; zeros after the input channels as the original
//         Torch code's concat)
//   B     projection: 1x1 conv with the stride, then the norm (module `downsample`, as
//         torchvision). In pre-activation blocks the projection is the conv alone, applied to
//         relu(bn1(x)) (He et al. 2016b's code): its input is already normalized.
//   None  plain network: no shortcut, no add.
// Convolutions have a bias only when the norm is `none`.
#pragma once
#include <memory>

#include "layers/conv2d.h"
#include "layers/norm/factory.h"

namespace norma::nn {

enum class Shortcut { A, B, None };

// Option A: x[:, :, ::stride, ::stride] followed by zero channels up to out_channels.
Tensor shortcut_a(const Tensor& x, int64_t out_channels, int64_t stride);

// What the blocks share: the shortcut and how it is applied.
class ResidualBlock : public Module {
 public:
  // The residual branch F(x), from the block input x (pre-activation included).
  virtual Tensor residual(const Tensor& x) = 0;
  // The shortcut branch applied to h: h itself when the shortcut is the identity. (Forward
  // gives pre-activation blocks relu(bn1(x)) here when the shortcut is not the identity.)
  Tensor shortcut(const Tensor& h);
  // Whether the shortcut is the identity (same shape in and out, not plain).
  bool identity_shortcut() const { return kind != Shortcut::None && !projects_; }
  std::string extra_repr() const override;

  int64_t in_planes, out_planes, stride;
  Shortcut kind;

 protected:
  ResidualBlock(const std::string& type_name, int64_t in_planes, int64_t out_planes, int64_t stride,
                Shortcut kind);
  // Registers `downsample` for option B where the shape changes (norm: whether a norm follows
  // the 1x1 conv).
  void make_projection(const NormConfig& norm, bool with_norm);
  // Calls the child module `name` on x.
  Tensor call(const std::string& name, const Tensor& x) { return (*child(name))(x); }

 private:
  bool projects_;  // the shape changes: A pads/subsamples, B projects
};

class BasicBlock : public ResidualBlock {
 public:
  static constexpr int64_t expansion = 1;
  BasicBlock(int64_t in_planes, int64_t planes, int64_t stride, const NormConfig& norm,
             Shortcut shortcut = Shortcut::A);
  Tensor forward(const Tensor& x) override;
  Tensor residual(const Tensor& x) override;  // bn2(conv2(relu(bn1(conv1 x))))
};

class PreActBlock : public ResidualBlock {
 public:
  static constexpr int64_t expansion = 1;
  PreActBlock(int64_t in_planes, int64_t planes, int64_t stride, const NormConfig& norm,
              Shortcut shortcut = Shortcut::A);
  Tensor forward(const Tensor& x) override;
  Tensor residual(const Tensor& x) override;  // conv2(relu(bn2(conv1(relu(bn1 x)))))

 private:
  Tensor branch(const Tensor& a);  // the residual from a = relu(bn1 x)
};

class Bottleneck : public ResidualBlock {
 public:
  static constexpr int64_t expansion = 4;
  Bottleneck(int64_t in_planes, int64_t planes, int64_t stride, const NormConfig& norm,
             Shortcut shortcut = Shortcut::A);
  Tensor forward(const Tensor& x) override;
  Tensor residual(const Tensor& x) override;  // bn3(conv3(relu(bn2(conv2(relu(bn1(conv1 x)))))))
};

class PreActBottleneck : public ResidualBlock {
 public:
  static constexpr int64_t expansion = 4;
  PreActBottleneck(int64_t in_planes, int64_t planes, int64_t stride, const NormConfig& norm,
                   Shortcut shortcut = Shortcut::A);
  Tensor forward(const Tensor& x) override;
  Tensor residual(const Tensor& x) override;

 private:
  Tensor branch(const Tensor& a);
};

}  // namespace norma::nn
