#include "apps/experiments/fast_cifar_net.h"

#include "core/norma.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/norm/batch_norm.h"

namespace norma::apps::experiments {

namespace {
std::shared_ptr<nn::Conv2d> conv3x3(int64_t in, int64_t out) {
  return std::make_shared<nn::Conv2d>(in, out, 3, 1, 1, 1, 1, /*bias=*/false);
}
}  // namespace

FastCifarNet::FastCifarNet(int64_t stem_width, const std::vector<int64_t>& block_widths, int64_t num_classes)
    : Module("FastCifarNet"), stem_width_(stem_width), widths_(block_widths) {
  NORMA_CHECK(stem_width >= 1 && block_widths.size() == 3, "FastCifarNet: expected a stem width and 3 block widths");
  register_module("stem", conv3x3(3, stem_width));
  register_module("stem_bn", std::make_shared<nn::BatchNorm2d>(stem_width));
  int64_t in = stem_width;
  for (size_t k = 0; k < widths_.size(); ++k) {
    const std::string b = "block" + std::to_string(k + 1) + "_";
    register_module(b + "conv1", conv3x3(in, widths_[k]));
    register_module(b + "bn1", std::make_shared<nn::BatchNorm2d>(widths_[k]));
    register_module(b + "conv2", conv3x3(widths_[k], widths_[k]));
    register_module(b + "bn2", std::make_shared<nn::BatchNorm2d>(widths_[k]));
    in = widths_[k];
  }
  register_module("fc", std::make_shared<nn::Linear>(in, num_classes, /*bias=*/false));
}

Tensor FastCifarNet::forward(const Tensor& x) {
  NORMA_CHECK(x.dim() == 4 && x.size(1) == 3 && x.size(2) == 32 && x.size(3) == 32,
              "FastCifarNet: expected [N, 3, 32, 32], got ", x.shape());
  auto call = [&](const std::string& name, const Tensor& t) { return (*child(name))(t); };
  Tensor h = relu(call("stem_bn", call("stem", x)));
  for (size_t k = 0; k < widths_.size(); ++k) {
    const std::string b = "block" + std::to_string(k + 1) + "_";
    h = relu(call(b + "bn1", max_pool2d(call(b + "conv1", h), 2)));
    h = relu(call(b + "bn2", call(b + "conv2", h)));
  }
  h = max_pool2d(h, h.size(2)).flatten(1);  // global max pool: [N, C]
  return mul(call("fc", h), 0.125f);
}

int64_t FastCifarNet::forward_macs() const {
  int64_t macs = 32 * 32 * 9 * 3 * stem_width_, in = stem_width_, side = 32;
  for (int64_t w : widths_) {
    macs += side * side * 9 * in * w;  // conv1 at the block's input size, then the pool
    side /= 2;
    macs += side * side * 9 * w * w;
    in = w;
  }
  return macs + in * 10;
}

}  // namespace norma::apps::experiments
