// BatchNorm (Ioffe & Szegedy 2015): fused forward, hand-written backward.
//
// x is viewed as [N, C, inner] (inner = 1 for [N, C], L for [N, C, L], H*W for [N, C, H, W]).
// The N axis is cut into G groups of n samples (G = 1 for BatchNorm; GhostBatchNorm's chunks
// otherwise) and every (group g, channel c) gets its own statistics over its m = n * inner values:
//   mean = 1/m sum x                var = 1/m sum (x - mean)^2          (biased, for normalizing)
//   rstd = 1 / sqrt(var + eps)      x_hat = (x - mean) * rstd
//   y    = x_hat * gamma[c] + beta[c]
// Training also moves the running statistics towards the batch's, group after group:
//   running_mean = (1 - f) * running_mean + f * mean
//   running_var  = (1 - f) * running_var  + f * var * m / (m - 1)      (unbiased, as PyTorch)
// with f = momentum, or 1/num_batches_tracked for the cumulative average (momentum unset).
// Eval uses mean = running_mean, var = running_var (one group, constants for the backward).
#include "layers/norm/batch_norm.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/autograd.h"
#include "core/kernels/norm_stats.h"

namespace norma::nn {
namespace {
constexpr int64_t kGrain = 32768;  // elements below which loops stay on one thread

// The fused op behind batch_norm and ghost_batch_norm. use_batch_stats: statistics per chunk of
// `chunk` samples, running stats updated with factors[g] if defined; else the running stats.
Tensor batch_norm_fused(const Tensor& x, Tensor running_mean, Tensor running_var, const Tensor& weight,
                        const Tensor& bias, bool use_batch_stats, int64_t chunk, const std::vector<float>& factors,
                        float eps) {
  NORMA_CHECK(x.dim() >= 2, "batch_norm: expected input [N, C, *], got ", x.shape());
  const int64_t N = x.size(0), C = x.size(1);
  int64_t inner = 1;
  for (int64_t d = 2; d < x.dim(); ++d) inner *= x.size(d);
  for (const Tensor* t : std::initializer_list<const Tensor*>{&weight, &bias, &running_mean, &running_var})
    NORMA_CHECK(!t->defined() || (t->shape() == Shape{C} && t->is_contiguous()),
                "batch_norm: weight, bias and running statistics must be contiguous [", C, "] for input ",
                x.shape(), ", got ", t->shape());
  NORMA_CHECK(running_mean.defined() == running_var.defined(),
              "batch_norm: running_mean and running_var must be both defined or both undefined");
  NORMA_CHECK(use_batch_stats || running_mean.defined(),
              "batch_norm: running_mean and running_var must be defined in eval mode (training=false)");
  const int64_t n = use_batch_stats ? chunk : N;  // samples per group
  const int64_t G = n > 0 ? N / n : 1;            // groups
  const int64_t m = n * inner;                    // values per (group, channel) statistic
  NORMA_CHECK(!use_batch_stats || m > 1, "batch_norm: expected more than 1 value per channel when training, got ",
              "input of shape ", x.shape(), (G > 1 ? " in chunks of " + std::to_string(n) : std::string()));
  NORMA_CHECK(!use_batch_stats || N % n == 0, "batch_norm: batch size ", N, " is not a multiple of the chunk size ",
              n, " (input ", x.shape(), ")");
  NORMA_CHECK(!use_batch_stats || !running_mean.defined() || int64_t(factors.size()) == G, "batch_norm: ", G,
              " chunks need as many running-average factors, got ", factors.size());

  Tensor xc = x.contiguous().detach();
  Tensor mean = empty({G, C}), rstd = empty({G, C});
  float* mp = mean.data();
  float* rp = rstd.data();
  if (use_batch_stats) {
    // (SyncBatchNorm under MPI reduces these statistics over the ranks: sync_batch_norm.cpp.)
    std::vector<float> var(size_t(G * C));
    for (int64_t g = 0; g < G; ++g)
      channel_mean_var(xc.data() + g * n * C * inner, n, C, inner, mp + g * C, var.data() + g * C);
    for (int64_t s = 0; s < G * C; ++s) rp[s] = 1.f / std::sqrt(var[size_t(s)] + eps);
    if (running_mean.defined()) {
      float* rmean = running_mean.data();
      float* rvar = running_var.data();
      const float unbias = float(m) / float(m - 1);
      for (int64_t g = 0; g < G; ++g) {
        const float f = factors[size_t(g)];
        for (int64_t c = 0; c < C; ++c) {
          rmean[c] = (1.f - f) * rmean[c] + f * mp[g * C + c];
          rvar[c] = (1.f - f) * rvar[c] + f * var[size_t(g * C + c)] * unbias;
        }
      }
    }
  } else {
    // Copies: the running buffers may move on (next training step) before this backward runs.
    for (int64_t c = 0; c < C; ++c) {
      mp[c] = running_mean.data()[c];
      rp[c] = 1.f / std::sqrt(running_var.data()[c] + eps);
    }
  }

  // y = (x - mean) * (rstd * gamma) + beta, one row of `inner` values per (sample, channel)
  Tensor wv = weight.defined() ? weight.detach() : Tensor();
  const float* wp = weight.defined() ? weight.data() : nullptr;
  const float* bp = bias.defined() ? bias.data() : nullptr;
  Tensor out = empty(x.shape());
  const float* xp = xc.data();
  float* yp = out.data();
#pragma omp parallel for schedule(static) if (N * C * inner > kGrain)
  for (int64_t r = 0; r < N * C; ++r) {
    const int64_t c = r % C, s = (r / C) / n * C + c;  // s: the (group, channel) statistic
    const float mu = mp[s], scale = rp[s] * (wp ? wp[c] : 1.f), shift = bp ? bp[c] : 0.f;
    const float* xr = xp + r * inner;
    float* yr = yp + r * inner;
    for (int64_t i = 0; i < inner; ++i) yr[i] = (xr[i] - mu) * scale + shift;
  }

  const bool need_x = needs_grad(x), need_w = needs_grad(weight), need_b = needs_grad(bias);
  return record(use_batch_stats ? "batch_norm" : "batch_norm_eval", out, {x, weight, bias},
                [xc, mean, rstd, wv, use_batch_stats, N, C, inner, n, G, m, need_x, need_w,
                 need_b](const Tensor& gout) -> std::vector<Tensor> {
    Tensor dyc = gout.contiguous();
    const float *dy = dyc.data(), *xp = xc.data(), *mp = mean.data(), *rp = rstd.data();
    const float* wp = wv.defined() ? wv.data() : nullptr;
    // Per (group, channel): sum_dy = sum dL/dy,  sum_dy_xhat = sum dL/dy * x_hat
    // (SyncBatchNorm under MPI all-reduces these two sums over the ranks: sync_batch_norm.cpp.)
    std::vector<float> sum_dy(size_t(G * C)), sum_dy_xhat(size_t(G * C));
    for (int64_t g = 0; g < G; ++g) {
      const int64_t off = g * n * C * inner;
      channel_grad_sums(dy + off, xp + off, mp + g * C, rp + g * C, n, C, inner, sum_dy.data() + g * C,
                        sum_dy_xhat.data() + g * C);
    }
    // dL/dgamma = sum dL/dy x_hat;  dL/dbeta = sum dL/dy   (over every group, in order)
    Tensor dweight = need_w ? zeros({C}) : Tensor(), dbias = need_b ? zeros({C}) : Tensor();
    for (int64_t g = 0; g < G; ++g)
      for (int64_t c = 0; c < C; ++c) {
        if (need_w) dweight.data()[c] += sum_dy_xhat[size_t(g * C + c)];
        if (need_b) dbias.data()[c] += sum_dy[size_t(g * C + c)];
      }
    if (!need_x) return {Tensor(), dweight, dbias};

    // dL/dx = k_dy * dL/dy + k_xmu * (x - mu) + k_0, with per-statistic coefficients:
    std::vector<float> k_dy(size_t(G * C)), k_xmu(size_t(G * C), 0.f), k_0(size_t(G * C), 0.f);
    for (int64_t s = 0; s < G * C; ++s) {
      const float gamma = wp ? wp[s % C] : 1.f, rs = rp[s];
      // dL/dx_hat = dL/dy * gamma                               (so dL/dx_hat / sqrt(var+eps) = dL/dy * gamma * rstd)
      k_dy[size_t(s)] = gamma * rs;
      if (!use_batch_stats) continue;  // eval: mean and var are constants, dL/dx = dL/dy * gamma * rstd
      // dL/dvar = sum dL/dx_hat (x-mu) * -1/2 (var+eps)^-3/2
      //   sum dL/dx_hat (x-mu) = gamma * sum_dy_xhat / rstd,  (var+eps)^-3/2 = rstd^3
      const float dvar = -0.5f * gamma * sum_dy_xhat[size_t(s)] * rs * rs;
      // dL/dmu = sum dL/dx_hat * -1/sqrt(var+eps) + dL/dvar * sum -2(x-mu)/m
      //   the second sum is 0 (sum (x - mu) = 0 by the definition of mu)
      const float dmean = -gamma * sum_dy[size_t(s)] * rs;
      // dL/dx = dL/dx_hat / sqrt(var+eps) + dL/dvar * 2(x-mu)/m + dL/dmu / m
      //   i.e. the simplified form gamma * rstd * (dy - mean(dy) - x_hat * mean(dy * x_hat))
      k_xmu[size_t(s)] = dvar * 2.f / float(m);
      k_0[size_t(s)] = dmean / float(m);
    }
    Tensor dx = empty(xc.shape());
    float* dxp = dx.data();
#pragma omp parallel for schedule(static) if (N * C * inner > kGrain)
    for (int64_t r = 0; r < N * C; ++r) {
      const int64_t s = (r / C) / n * C + r % C;
      const float mu = mp[s], a = k_dy[size_t(s)], b = k_xmu[size_t(s)], c0 = k_0[size_t(s)];
      const float *g = dy + r * inner, *xr = xp + r * inner;
      float* d = dxp + r * inner;
      for (int64_t i = 0; i < inner; ++i) d[i] = a * g[i] + b * (xr[i] - mu) + c0;
    }
    return {dx, dweight, dbias};
  });
}

// A float as Python prints it: the shortest digits that round-trip, "1e-05", "0.1", "1.0".
std::string py_float(float v) {
  char buf[32];
  for (int prec = 1; prec <= 9; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, double(v));
    if (std::strtof(buf, nullptr) == v) break;
  }
  std::string s = buf;
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}
}  // namespace

Tensor batch_norm(const Tensor& x, Tensor running_mean, Tensor running_var, const Tensor& weight,
                  const Tensor& bias, bool training, float momentum, float eps) {
  const int64_t N = x.dim() >= 1 ? x.size(0) : 0;
  return batch_norm_fused(x, running_mean, running_var, weight, bias, training, N, {momentum}, eps);
}

Tensor ghost_batch_norm(const Tensor& x, Tensor running_mean, Tensor running_var, const Tensor& weight,
                        const Tensor& bias, int64_t chunk_size, const std::vector<float>& factors, float eps) {
  return batch_norm_fused(x, running_mean, running_var, weight, bias, true, chunk_size, factors, eps);
}

// ---- The module ----------------------------------------------------------------------------
BatchNorm::BatchNorm(const std::string& type_name, int64_t num_features_, float eps_,
                     std::optional<float> momentum_, bool affine_, bool track_running_stats_)
    : Module(type_name), num_features(num_features_), eps(eps_), momentum(momentum_), affine(affine_),
      track_running_stats(track_running_stats_) {
  NORMA_CHECK(num_features > 0, type_name, ": num_features must be positive, got ", num_features);
  if (affine) {
    register_parameter("weight", ones({num_features}));
    register_parameter("bias", zeros({num_features}));
  }
  if (track_running_stats) {
    register_buffer("running_mean", zeros({num_features}));
    register_buffer("running_var", ones({num_features}));
    // A float count of shape [] (PyTorch's is int64; a float holds counts exactly up to 2^24).
    register_buffer("num_batches_tracked", zeros({}));
  }
}

void BatchNorm::reset_running_stats() {
  if (!track_running_stats) return;
  buffer("running_mean").fill_(0.f);
  buffer("running_var").fill_(1.f);
  buffer("num_batches_tracked").fill_(0.f);
}

float BatchNorm::next_average_factor() {
  float& count = buffer("num_batches_tracked").data()[0];
  count += 1.f;
  return momentum ? *momentum : 1.f / count;
}

Tensor BatchNorm::forward(const Tensor& x) {
  check_input(x);
  NORMA_CHECK(x.size(1) == num_features, type_name(), ": expected ", num_features,
              " channels (num_features) in dim 1, got input of shape ", x.shape());
  // Without running statistics, eval normalizes with the batch's too (as PyTorch).
  const bool use_batch_stats = training_ || !track_running_stats;
  NORMA_CHECK(!use_batch_stats || x.numel() / num_features > 1, type_name(),
              ": expected more than 1 value per channel when training, got input of shape ", x.shape());
  const float factor = training_ && track_running_stats ? next_average_factor() : 0.f;
  Tensor rmean = track_running_stats ? buffer("running_mean") : Tensor();
  Tensor rvar = track_running_stats ? buffer("running_var") : Tensor();
  return batch_norm(x, rmean, rvar, affine ? param("weight") : Tensor(), affine ? param("bias") : Tensor(),
                    use_batch_stats, factor, eps);
}

std::string BatchNorm::extra_repr() const {
  return std::to_string(num_features) + ", eps=" + py_float(eps) +
         ", momentum=" + (momentum ? py_float(*momentum) : std::string("None")) +
         ", affine=" + (affine ? "True" : "False") +
         ", track_running_stats=" + (track_running_stats ? "True" : "False");
}

BatchNorm1d::BatchNorm1d(int64_t num_features, float eps, std::optional<float> momentum, bool affine,
                         bool track_running_stats)
    : BatchNorm("BatchNorm1d", num_features, eps, momentum, affine, track_running_stats) {}

void BatchNorm1d::check_input(const Tensor& x) const {
  NORMA_CHECK(x.dim() == 2 || x.dim() == 3, "BatchNorm1d: expected 2D or 3D input [N, C] or [N, C, L], got ",
              x.shape());
}

BatchNorm2d::BatchNorm2d(int64_t num_features, float eps, std::optional<float> momentum, bool affine,
                         bool track_running_stats)
    : BatchNorm("BatchNorm2d", num_features, eps, momentum, affine, track_running_stats) {}

void BatchNorm2d::check_input(const Tensor& x) const {
  NORMA_CHECK(x.dim() == 4, "BatchNorm2d: expected 4D input [N, C, H, W], got ", x.shape());
}

}  // namespace norma::nn
