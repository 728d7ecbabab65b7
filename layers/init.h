// Parameter initialisers, as torch.nn.init. Each fills a tensor in place (not recorded) and
// takes an optional Generator (default: norma's global one, seeded by manual_seed).
#pragma once
#include <string>

#include "core/tensor.h"

namespace norma::nn::init {

// fan_in = size(1) * receptive field, fan_out = size(0) * receptive field (2-d and up).
int64_t fan_in(const Tensor& w);
int64_t fan_out(const Tensor& w);
// The recommended gain of a nonlinearity: "linear"/"sigmoid"/"conv2d" 1, "tanh" 5/3,
// "relu" sqrt(2), "leaky_relu" sqrt(2 / (1 + a^2)).
float calculate_gain(const std::string& nonlinearity, float a = 0.f);

void uniform_(Tensor& w, float low, float high, Generator* gen = nullptr);
void normal_(Tensor& w, float mean = 0.f, float std = 1.f, Generator* gen = nullptr);
void constant_(Tensor& w, float value);
void zeros_(Tensor& w);
void ones_(Tensor& w);
// U(-b, b), b = gain * sqrt(3 / fan) with gain for leaky_relu(a); mode "fan_in" or "fan_out".
void kaiming_uniform_(Tensor& w, float a = 0.f, const std::string& mode = "fan_in",
                      const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);
// N(0, std^2), std = gain / sqrt(fan).
void kaiming_normal_(Tensor& w, float a = 0.f, const std::string& mode = "fan_in",
                     const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);
// U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out)).
void xavier_uniform_(Tensor& w, float gain = 1.f, Generator* gen = nullptr);
void xavier_normal_(Tensor& w, float gain = 1.f, Generator* gen = nullptr);

}  // namespace norma::nn::init
