// cifar-target's network: a small, wide, shallow CIFAR-10 net in the style of Page's ResNet-9
// (DAWNBench 2018) and Jordan's airbench (2024): few layers, early downsampling, most of the
// compute at 16x16 and 8x8 where the convolutions are large matrix products.
//
//   stem     conv 3x3  3 -> w0, BN, relu                          32x32
//   block k  conv 3x3 -> w_k, maxpool 2, BN, relu,                32 -> 16 -> 8 -> 4
//            conv 3x3 w_k -> w_k, BN, relu
//   head     global max pool, linear w_2 -> 10 (no bias), x 1/8   (Page's logit scale)
//
// BatchNorm everywhere (convs without bias). Widths (w0; w1, w2, w3), e.g. (24; 64, 256, 256)
// as airbench94's blocks.
#pragma once
#include <cstdint>
#include <vector>

#include "layers/module.h"

namespace norma::apps::experiments {

class FastCifarNet : public nn::Module {
 public:
  FastCifarNet(int64_t stem_width, const std::vector<int64_t>& block_widths, int64_t num_classes = 10);
  Tensor forward(const Tensor& x) override;  // [N, 3, 32, 32] -> [N, classes]
  // Multiply-accumulates of one forward of a 32x32 image (convs and the linear layer).
  int64_t forward_macs() const;

 private:
  int64_t stem_width_;
  std::vector<int64_t> widths_;
};

}  // namespace norma::apps::experiments
