#include "layers/pooling.h"

namespace norma::nn {
namespace {
std::string pair(IntPair p) { return "(" + std::to_string(p.h) + ", " + std::to_string(p.w) + ")"; }
IntPair or_kernel(IntPair stride, IntPair kernel) { return stride == IntPair(0) ? kernel : stride; }
}  // namespace

Tensor MaxPool2d::forward(const Tensor& x) { return max_pool2d(x, kernel_size, stride, padding, dilation); }
std::string MaxPool2d::extra_repr() const {
  return "kernel_size=" + pair(kernel_size) + ", stride=" + pair(or_kernel(stride, kernel_size)) +
         ", padding=" + pair(padding) + ", dilation=" + pair(dilation);
}

Tensor AvgPool2d::forward(const Tensor& x) { return avg_pool2d(x, kernel_size, stride, padding, count_include_pad); }
std::string AvgPool2d::extra_repr() const {
  return "kernel_size=" + pair(kernel_size) + ", stride=" + pair(or_kernel(stride, kernel_size)) +
         ", padding=" + pair(padding);
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) { return adaptive_avg_pool2d(x, output_size); }
std::string AdaptiveAvgPool2d::extra_repr() const { return "output_size=" + pair(output_size); }

}  // namespace norma::nn
