#include "layers/resnet/blocks.h"

#include "core/ops/elementwise.h"
#include "core/ops/shape_ops.h"
#include "core/ops/unary.h"
#include "layers/containers.h"

namespace norma::nn {

namespace {

std::shared_ptr<Conv2d> conv3x3(int64_t in, int64_t out, int64_t stride, bool bias) {
  return std::make_shared<Conv2d>(in, out, 3, stride, 1, 1, 1, bias);
}

std::shared_ptr<Conv2d> conv1x1(int64_t in, int64_t out, int64_t stride, bool bias) {
  return std::make_shared<Conv2d>(in, out, 1, stride, 0, 1, 1, bias);
}

const char* shortcut_name(Shortcut s) { return s == Shortcut::A ? "A" : s == Shortcut::B ? "B" : "none"; }

}  // namespace

// s(x) = [x[:, :, ::stride, ::stride], 0, ..., 0]: the subsampled input keeps channels
// 0..C-1, channels C..out-1 are zeros. Parameter-free; its gradient is the subsampled part of
// ds (slice and pad are differentiable views/copies).
Tensor shortcut_a(const Tensor& x, int64_t out_channels, int64_t stride) {
  NORMA_CHECK(x.dim() == 4, "shortcut_a: expected input [N, C, H, W], got ", x.shape());
  NORMA_CHECK(stride >= 1 && out_channels >= x.size(1), "shortcut_a: cannot map ", x.shape(), " to ", out_channels,
              " channels with stride ", stride, " (option A only subsamples and adds channels)");
  Tensor h = x;
  if (stride != 1) h = slice(slice(h, 2, 0, x.size(2), stride), 3, 0, x.size(3), stride);
  if (out_channels != x.size(1)) h = pad(h, {0, 0, 0, 0, 0, out_channels - x.size(1)});
  return h;
}

// ---- What every block shares ----------------------------------------------------------------

ResidualBlock::ResidualBlock(const std::string& type_name, int64_t in, int64_t out, int64_t s, Shortcut k)
    : Module(type_name), in_planes(in), out_planes(out), stride(s), kind(k), projects_(s != 1 || in != out) {
  NORMA_CHECK(in > 0 && out > 0 && s >= 1, type_name, ": bad sizes in_planes=", in, " planes*expansion=", out,
              " stride=", s);
  NORMA_CHECK(k != Shortcut::A || out >= in, type_name, ": option A shortcut cannot reduce channels (", in, " -> ",
              out, "); use option B");
}

void ResidualBlock::make_projection(const NormConfig& norm, bool with_norm) {
  if (kind != Shortcut::B || !projects_) return;
  auto ds = std::make_shared<Sequential>();
  ds->push_back(conv1x1(in_planes, out_planes, stride, conv_bias(norm)));
  if (with_norm) ds->push_back(make_norm2d(norm, out_planes));
  register_module("downsample", ds);
}

Tensor ResidualBlock::shortcut(const Tensor& h) {
  NORMA_CHECK(kind != Shortcut::None, type_name(), ": a plain block has no shortcut");
  if (!projects_) return h;
  if (kind == Shortcut::A) return shortcut_a(h, out_planes, stride);
  return call("downsample", h);
}

std::string ResidualBlock::extra_repr() const {
  return "in_planes=" + std::to_string(in_planes) + ", out_planes=" + std::to_string(out_planes) +
         ", stride=" + std::to_string(stride) + ", shortcut=" + shortcut_name(kind);
}

// ---- BasicBlock (post-activation) -----------------------------------------------------------

BasicBlock::BasicBlock(int64_t in, int64_t planes, int64_t s, const NormConfig& norm, Shortcut k)
    : ResidualBlock("BasicBlock", in, planes * expansion, s, k) {
  bool bias = conv_bias(norm);
  register_module("conv1", conv3x3(in, planes, s, bias));
  register_module("bn1", make_norm2d(norm, planes));
  register_module("conv2", conv3x3(planes, planes, 1, bias));
  register_module("bn2", make_norm2d(norm, planes));
  make_projection(norm, /*with_norm=*/true);
}

Tensor BasicBlock::residual(const Tensor& x) {
  Tensor h = relu(call("bn1", call("conv1", x)));
  return call("bn2", call("conv2", h));
}

// y = relu(F(x) + s(x)); plain: y = relu(F(x))
Tensor BasicBlock::forward(const Tensor& x) {
  Tensor f = residual(x);
  if (kind == Shortcut::None) return relu(f);
  return relu(f + shortcut(x));
}

// ---- PreActBlock ----------------------------------------------------------------------------

PreActBlock::PreActBlock(int64_t in, int64_t planes, int64_t s, const NormConfig& norm, Shortcut k)
    : ResidualBlock("PreActBlock", in, planes * expansion, s, k) {
  bool bias = conv_bias(norm);
  register_module("bn1", make_norm2d(norm, in));
  register_module("conv1", conv3x3(in, planes, s, bias));
  register_module("bn2", make_norm2d(norm, planes));
  register_module("conv2", conv3x3(planes, planes, 1, bias));
  make_projection(norm, /*with_norm=*/false);
}

Tensor PreActBlock::branch(const Tensor& a) {
  Tensor h = relu(call("bn2", call("conv1", a)));
  return call("conv2", h);
}

Tensor PreActBlock::residual(const Tensor& x) { return branch(relu(call("bn1", x))); }

// a = relu(bn1 x); y = F(a) + x with an identity shortcut, F(a) + s(a) otherwise, nothing
// after the add (the identity path stays clean through the whole network).
Tensor PreActBlock::forward(const Tensor& x) {
  Tensor a = relu(call("bn1", x));
  Tensor f = branch(a);
  if (kind == Shortcut::None) return f;
  return f + (identity_shortcut() ? x : shortcut(a));
}

// ---- Bottleneck (post-activation) -----------------------------------------------------------

Bottleneck::Bottleneck(int64_t in, int64_t planes, int64_t s, const NormConfig& norm, Shortcut k)
    : ResidualBlock("Bottleneck", in, planes * expansion, s, k) {
  bool bias = conv_bias(norm);
  register_module("conv1", conv1x1(in, planes, 1, bias));
  register_module("bn1", make_norm2d(norm, planes));
  register_module("conv2", conv3x3(planes, planes, s, bias));
  register_module("bn2", make_norm2d(norm, planes));
  register_module("conv3", conv1x1(planes, planes * expansion, 1, bias));
  register_module("bn3", make_norm2d(norm, planes * expansion));
  make_projection(norm, /*with_norm=*/true);
}

Tensor Bottleneck::residual(const Tensor& x) {
  Tensor h = relu(call("bn1", call("conv1", x)));
  h = relu(call("bn2", call("conv2", h)));
  return call("bn3", call("conv3", h));
}

Tensor Bottleneck::forward(const Tensor& x) {
  Tensor f = residual(x);
  if (kind == Shortcut::None) return relu(f);
  return relu(f + shortcut(x));
}

// ---- PreActBottleneck -----------------------------------------------------------------------

PreActBottleneck::PreActBottleneck(int64_t in, int64_t planes, int64_t s, const NormConfig& norm, Shortcut k)
    : ResidualBlock("PreActBottleneck", in, planes * expansion, s, k) {
  bool bias = conv_bias(norm);
  register_module("bn1", make_norm2d(norm, in));
  register_module("conv1", conv1x1(in, planes, 1, bias));
  register_module("bn2", make_norm2d(norm, planes));
  register_module("conv2", conv3x3(planes, planes, s, bias));
  register_module("bn3", make_norm2d(norm, planes));
  register_module("conv3", conv1x1(planes, planes * expansion, 1, bias));
  make_projection(norm, /*with_norm=*/false);
}

Tensor PreActBottleneck::branch(const Tensor& a) {
  Tensor h = relu(call("bn2", call("conv1", a)));
  h = relu(call("bn3", call("conv2", h)));
  return call("conv3", h);
}

Tensor PreActBottleneck::residual(const Tensor& x) { return branch(relu(call("bn1", x))); }

Tensor PreActBottleneck::forward(const Tensor& x) {
  Tensor a = relu(call("bn1", x));
  Tensor f = branch(a);
  if (kind == Shortcut::None) return f;
  return f + (identity_shortcut() ? x : shortcut(a));
}

}  // namespace norma::nn
