#include "layers/init.h"

#include <cmath>

#include "core/error.h"

namespace norma::nn::init {
namespace {
int64_t receptive_field(const Tensor& w) {
  int64_t r = 1;
  for (int64_t d = 2; d < w.dim(); ++d) r *= w.shape()[d];
  return r;
}
float* writable(Tensor& w, const char* op) {
  NORMA_CHECK(w.is_contiguous(), op, ": expected a contiguous tensor, got strides ", w.strides());
  return w.data();
}
float fan(const Tensor& w, const std::string& mode, const char* op) {
  NORMA_CHECK(mode == "fan_in" || mode == "fan_out", op, ": mode must be fan_in or fan_out, got '", mode, "'");
  return float(mode == "fan_in" ? fan_in(w) : fan_out(w));
}
}  // namespace

int64_t fan_in(const Tensor& w) {
  NORMA_CHECK(w.dim() >= 2, "init: fan in and fan out need at least 2 dims, got shape ", w.shape());
  return w.shape()[1] * receptive_field(w);
}

int64_t fan_out(const Tensor& w) {
  NORMA_CHECK(w.dim() >= 2, "init: fan in and fan out need at least 2 dims, got shape ", w.shape());
  return w.shape()[0] * receptive_field(w);
}

float calculate_gain(const std::string& nonlinearity, float a) {
  if (nonlinearity == "linear" || nonlinearity == "sigmoid" || nonlinearity == "conv2d") return 1.f;
  if (nonlinearity == "tanh") return 5.f / 3.f;
  if (nonlinearity == "relu") return std::sqrt(2.f);
  if (nonlinearity == "leaky_relu") return std::sqrt(2.f / (1.f + a * a));
  throw Error("calculate_gain: unknown nonlinearity '" + nonlinearity + "'");
}

void uniform_(Tensor& w, float low, float high, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  float* p = writable(w, "uniform_");
  for (int64_t i = 0; i < w.numel(); ++i) p[i] = low + (high - low) * g.uniform();
}

void normal_(Tensor& w, float mean, float std, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  float* p = writable(w, "normal_");
  for (int64_t i = 0; i < w.numel(); ++i) p[i] = mean + std * g.normal();
}

void constant_(Tensor& w, float value) {
  writable(w, "constant_");
  w.fill_(value);
}
void zeros_(Tensor& w) { constant_(w, 0.f); }
void ones_(Tensor& w) { constant_(w, 1.f); }

void kaiming_uniform_(Tensor& w, float a, const std::string& mode, const std::string& nonlinearity, Generator* gen) {
  float bound = calculate_gain(nonlinearity, a) * std::sqrt(3.f / fan(w, mode, "kaiming_uniform_"));
  uniform_(w, -bound, bound, gen);
}

void kaiming_normal_(Tensor& w, float a, const std::string& mode, const std::string& nonlinearity, Generator* gen) {
  normal_(w, 0.f, calculate_gain(nonlinearity, a) / std::sqrt(fan(w, mode, "kaiming_normal_")), gen);
}

void xavier_uniform_(Tensor& w, float gain, Generator* gen) {
  float bound = gain * std::sqrt(6.f / float(fan_in(w) + fan_out(w)));
  uniform_(w, -bound, bound, gen);
}

void xavier_normal_(Tensor& w, float gain, Generator* gen) {
  normal_(w, 0.f, gain * std::sqrt(2.f / float(fan_in(w) + fan_out(w))), gen);
}

}  // namespace norma::nn::init
