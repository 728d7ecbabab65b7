#include "apps/experiments/landscape_probe.h"

#include <algorithm>
#include <cmath>

#include "core/norma.h"

namespace norma::apps::experiments {
namespace {

std::vector<std::vector<float>> snapshot(const std::vector<Tensor>& ts) {
  std::vector<std::vector<float>> out;
  for (const Tensor& t : ts) out.push_back(t.to_vector());
  return out;
}

void restore(std::vector<Tensor>& ts, const std::vector<std::vector<float>>& values) {
  for (size_t i = 0; i < ts.size(); ++i) std::copy(values[i].begin(), values[i].end(), ts[i].data());
}

// The loss on the batch and every parameter's gradient (flattened, in parameter order); the
// model's gradients are left zero.
double loss_and_gradient(nn::Module& model, const data::Batch& batch, std::vector<float>& grad) {
  model.zero_grad();
  Tensor loss = cross_entropy(model(batch.images), batch.labels);
  loss.backward();
  grad.clear();
  for (const Tensor& p : model.parameters()) {
    const std::vector<float> g = p.grad().to_vector();
    grad.insert(grad.end(), g.begin(), g.end());
  }
  model.zero_grad();
  return double(loss.item());
}

double norm2(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += double(x) * double(x);
  return std::sqrt(s);
}

}  // namespace

LandscapeProbe probe_landscape(nn::Module& model, const data::Batch& batch, double lr,
                               const std::vector<double>& eta_factors, int64_t step) {
  std::vector<Tensor> params = model.parameters();
  std::vector<Tensor> buffers;
  for (auto& [name, b] : model.named_buffers()) buffers.push_back(b);
  const auto theta = snapshot(params), stats = snapshot(buffers);
  const bool was_training = model.is_training();
  model.train();
  std::vector<float> g, g_eta;
  LandscapeProbe p;
  p.step = step;
  p.loss = p.loss_min = p.loss_max = loss_and_gradient(model, batch, g);
  p.gdiff_min = INFINITY;
  const double g_norm = norm2(g);
  for (double f : eta_factors) {
    const double eta = lr * f;
    {
      NoGradGuard no_grad;
      size_t k = 0;
      for (size_t i = 0; i < params.size(); ++i) {
        float* w = params[i].data();
        for (size_t j = 0; j < theta[i].size(); ++j, ++k) w[j] = theta[i][j] - float(eta) * g[k];
      }
    }
    const double l = loss_and_gradient(model, batch, g_eta);
    for (size_t k = 0; k < g.size(); ++k) g_eta[k] -= g[k];
    const double d = norm2(g_eta);
    p.loss_min = std::min(p.loss_min, l), p.loss_max = std::max(p.loss_max, l);
    p.gdiff_min = std::min(p.gdiff_min, d), p.gdiff_max = std::max(p.gdiff_max, d);
    p.beta = std::max(p.beta, d / (eta * g_norm));
  }
  restore(params, theta), restore(buffers, stats);
  model.train(was_training);
  return p;
}

}  // namespace norma::apps::experiments
