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
// SyncBatchNorm's training forward is this same code with the sums all-reduced over the ranks
// (across_ranks: m is then the global count), so in one process it is batch_norm to the bit.
#include "layers/norm/batch_norm.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/autograd.h"
#include "core/distributed.h"
#include "core/kernels/norm_stats.h"

namespace norma::nn {
namespace {
constexpr int64_t kGrain = 32768;  // elements below which loops stay on one thread
}  // namespace

Tensor detail::batch_norm_fused(const Tensor& x, Tensor running_mean, Tensor running_var, const Tensor& weight,
                                const Tensor& bias, bool use_batch_stats, int64_t chunk,
                                const std::vector<float>& factors, float eps, bool across_ranks) {
  const char* name = across_ranks ? "sync_batch_norm" : "batch_norm";
  NORMA_CHECK(x.dim() >= 2, name, ": expected input [N, C, *], got ", x.shape());
  const int64_t N = x.size(0), C = x.size(1);
  int64_t inner = 1;
  for (int64_t d = 2; d < x.dim(); ++d) inner *= x.size(d);
  for (const Tensor* t : std::initializer_list<const Tensor*>{&weight, &bias, &running_mean, &running_var})
    NORMA_CHECK(!t->defined() || (t->shape() == Shape{C} && t->is_contiguous()), name,
                ": weight, bias and running statistics must be contiguous [", C, "] for input ", x.shape(),
                ", got ", t->shape());
  NORMA_CHECK(running_mean.defined() == running_var.defined(), name,
              ": running_mean and running_var must be both defined or both undefined");
  NORMA_CHECK(use_batch_stats || running_mean.defined(),
              "batch_norm: running_mean and running_var must be defined in eval mode (training=false)");
  const int64_t n = use_batch_stats ? chunk : N;  // samples per group
  const int64_t G = n > 0 ? N / n : 1;            // groups
  NORMA_CHECK(!across_ranks || (use_batch_stats && G == 1), "sync_batch_norm: one group in training only");
  NORMA_CHECK(!use_batch_stats || across_ranks || n * inner > 1,
              "batch_norm: expected more than 1 value per channel when training, got input of shape ", x.shape(),
              (G > 1 ? " in chunks of " + std::to_string(n) : std::string()));
  NORMA_CHECK(!use_batch_stats || N % n == 0, "batch_norm: batch size ", N, " is not a multiple of the chunk size ",
              n, " (input ", x.shape(), ")");
  NORMA_CHECK(!use_batch_stats || !running_mean.defined() || int64_t(factors.size()) == G, "batch_norm: ", G,
              " chunks need as many running-average factors, got ", factors.size());

  Tensor xc = x.contiguous().detach();
  // mean = mean_hi + mean_lo (norm_stats.h: the float mean and its remainder), per (group, channel)
  Tensor mean = empty({G, C}), mean_lo = zeros({G, C}), rstd = empty({G, C});
  float* mp = mean.data();
  float* lp = mean_lo.data();
  float* rp = rstd.data();
  double m = double(n * inner);  // values per statistic: the group's, or the global batch's (across ranks)
  if (use_batch_stats) {
    // Two-pass in double (norm_stats.h), as channel_mean_var: sum -> mean = sum / m ->
    // sq = sum (x - mean)^2 -> var = sq / m. Across ranks (SyncBatchNorm under mpirun) the sums
    // and the count are all-reduced between the passes; in one process that is the identity,
    // so sync_batch_norm computes exactly batch_norm's floats.
    std::vector<double> sum(size_t(G * C + 1)), sq(size_t(G * C));
    for (int64_t g = 0; g < G; ++g) channel_sums(xc.data() + g * n * C * inner, n, C, inner, sum.data() + g * C);
    if (across_ranks) {
      sum[size_t(C)] = m;
      dist::allreduce_sum(sum.data(), C + 1);
      m = sum[size_t(C)];
      NORMA_CHECK(m > 1, "sync_batch_norm: expected more than 1 value per channel over all ranks when training, got ",
                  m, " (input ", x.shape(), " on this rank)");
    }
    for (int64_t s = 0; s < G * C; ++s) sum[size_t(s)] = m > 0 ? sum[size_t(s)] / m : 0.0;  // now the mean
    for (int64_t g = 0; g < G; ++g)
      channel_sq_dev(xc.data() + g * n * C * inner, n, C, inner, sum.data() + g * C, sq.data() + g * C);
    if (across_ranks) dist::allreduce_sum(sq.data(), C);
    std::vector<float> var(size_t(G * C));
    for (int64_t s = 0; s < G * C; ++s) {
      split_mean(sum[size_t(s)], mp[s], lp[s]);
      var[size_t(s)] = m > 0 ? float(sq[size_t(s)] / m) : 0.f;
      rp[s] = 1.f / std::sqrt(var[size_t(s)] + eps);
    }
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

  // y = (x - mean) * (rstd * gamma) + beta, one row of `inner` values per (sample, channel), as
  //   (x - mean_hi) * scale + (beta - mean_lo * scale)   with scale = rstd * gamma
  Tensor wv = weight.defined() ? weight.detach() : Tensor();
  const float* wp = weight.defined() ? weight.data() : nullptr;
  const float* bp = bias.defined() ? bias.data() : nullptr;
  Tensor out = empty(x.shape());
  const float* xp = xc.data();
  float* yp = out.data();
  std::vector<float> scale(size_t(G * C)), shift(size_t(G * C));  // per (group, channel) statistic s
  for (int64_t s = 0; s < G * C; ++s) {
    const int64_t c = s % C;
    scale[size_t(s)] = rp[s] * (wp ? wp[c] : 1.f);
    shift[size_t(s)] = (bp ? bp[c] : 0.f) - lp[s] * scale[size_t(s)];
  }
  const float *sc = scale.data(), *sh = shift.data();
  if (inner == 1) {  // [N, C]: one value per (sample, channel); vectorized over channels
#pragma omp parallel for schedule(static) if (N * C > kGrain)
    for (int64_t i = 0; i < N; ++i) {
      const int64_t s0 = i / n * C;  // sample i's group: statistics s0 .. s0 + C - 1
      const float* xr = xp + i * C;
      float* yr = yp + i * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) yr[c] = (xr[c] - mp[s0 + c]) * sc[s0 + c] + sh[s0 + c];
    }
  } else {  // a row of `inner` values per (sample, channel)
#pragma omp parallel for schedule(static) if (N * C * inner > kGrain)
    for (int64_t r = 0; r < N * C; ++r) {
      const int64_t s = (r / C) / n * C + r % C;  // the (group, channel) statistic
      const float mu = mp[s], k = sc[s], b = sh[s];
      const float* xr = xp + r * inner;
      float* yr = yp + r * inner;
      for (int64_t j = 0; j < inner; ++j) yr[j] = (xr[j] - mu) * k + b;
    }
  }

  const bool need_x = needs_grad(x), need_w = needs_grad(weight), need_b = needs_grad(bias);
  return record(use_batch_stats ? "batch_norm" : "batch_norm_eval", out, {x, weight, bias},
                [xc, mean, mean_lo, rstd, wv, use_batch_stats, across_ranks, N, C, inner, n, G, m, need_x, need_w,
                 need_b](const Tensor& gout) -> std::vector<Tensor> {
    Tensor dyc = gout.contiguous();
    const float *dy = dyc.data(), *xp = xc.data(), *mp = mean.data(), *lp = mean_lo.data(), *rp = rstd.data();
    const float* wp = wv.defined() ? wv.data() : nullptr;
    // Per (group, channel): sum_dy = sum dL/dy,  sum_dy_xhat = sum dL/dy * x_hat
    std::vector<float> sums(size_t(2 * G * C));
    float *sum_dy = sums.data(), *sum_dy_xhat = sums.data() + G * C;
    for (int64_t g = 0; g < G; ++g) {
      const int64_t off = g * n * C * inner;
      channel_grad_sums(dy + off, xp + off, mp + g * C, rp + g * C, n, C, inner, sum_dy + g * C,
                        sum_dy_xhat + g * C, lp + g * C);
    }
    // dL/dgamma = sum dL/dy x_hat;  dL/dbeta = sum dL/dy   (over every group, in order)
    Tensor dweight = need_w ? zeros({C}) : Tensor(), dbias = need_b ? zeros({C}) : Tensor();
    for (int64_t g = 0; g < G; ++g)
      for (int64_t c = 0; c < C; ++c) {
        if (need_w) dweight.data()[c] += sum_dy_xhat[g * C + c];
        if (need_b) dbias.data()[c] += sum_dy[g * C + c];
      }
    // Across ranks dL/dx needs the global batch's two sums; the weight and bias gradients above
    // stay this rank's (sync_batch_norm.cpp says why). Every rank takes part, needing dL/dx or not.
    if (across_ranks) dist::allreduce_sum(sums.data(), 2 * C);
    if (!need_x) return {Tensor(), dweight, dbias};

    // dL/dx = k_dy * dL/dy + k_xmu * (x - mu) + k_0, with per-statistic coefficients
    // (x - mu computed as (x - mean_hi) - mean_lo, the mean_lo part folded into k_0):
    std::vector<float> k_dy(size_t(G * C)), k_xmu(size_t(G * C), 0.f), k_0(size_t(G * C), 0.f);
    for (int64_t s = 0; s < G * C; ++s) {
      const float gamma = wp ? wp[s % C] : 1.f, rs = rp[s];
      // dL/dx_hat = dL/dy * gamma                               (so dL/dx_hat / sqrt(var+eps) = dL/dy * gamma * rstd)
      k_dy[size_t(s)] = gamma * rs;
      if (!use_batch_stats) continue;  // eval: mean and var are constants, dL/dx = dL/dy * gamma * rstd
      // dL/dvar = sum dL/dx_hat (x-mu) * -1/2 (var+eps)^-3/2
      //   sum dL/dx_hat (x-mu) = gamma * sum_dy_xhat / rstd,  (var+eps)^-3/2 = rstd^3
      const float dvar = -0.5f * gamma * sum_dy_xhat[s] * rs * rs;
      // dL/dmu = sum dL/dx_hat * -1/sqrt(var+eps) + dL/dvar * sum -2(x-mu)/m
      //   the second sum is 0 (sum (x - mu) = 0 by the definition of mu)
      const float dmean = -gamma * sum_dy[s] * rs;
      // dL/dx = dL/dx_hat / sqrt(var+eps) + dL/dvar * 2(x-mu)/m + dL/dmu / m
      //   i.e. the simplified form gamma * rstd * (dy - mean(dy) - x_hat * mean(dy * x_hat))
      k_xmu[size_t(s)] = dvar * 2.f / float(m);
      k_0[size_t(s)] = dmean / float(m) - k_xmu[size_t(s)] * lp[s];
    }
    Tensor dx = empty(xc.shape());
    float* dxp = dx.data();
    const float *ka = k_dy.data(), *kb = k_xmu.data(), *kc = k_0.data();
    if (inner == 1) {  // [N, C]: vectorized over channels
#pragma omp parallel for schedule(static) if (N * C > kGrain)
      for (int64_t i = 0; i < N; ++i) {
        const int64_t s0 = i / n * C;  // sample i's group: statistics s0 .. s0 + C - 1
        const float *g = dy + i * C, *xr = xp + i * C;
        float* d = dxp + i * C;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) d[c] = ka[s0 + c] * g[c] + kb[s0 + c] * (xr[c] - mp[s0 + c]) + kc[s0 + c];
      }
    } else {
#pragma omp parallel for schedule(static) if (N * C * inner > kGrain)
      for (int64_t r = 0; r < N * C; ++r) {
        const int64_t s = (r / C) / n * C + r % C;
        const float mu = mp[s], a = ka[s], b = kb[s], c0 = kc[s];
        const float *g = dy + r * inner, *xr = xp + r * inner;
        float* d = dxp + r * inner;
        for (int64_t j = 0; j < inner; ++j) d[j] = a * g[j] + b * (xr[j] - mu) + c0;
      }
    }
    return {dx, dweight, dbias};
  });
}

namespace {
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
  return detail::batch_norm_fused(x, running_mean, running_var, weight, bias, training, N, {momentum}, eps, false);
}

Tensor ghost_batch_norm(const Tensor& x, Tensor running_mean, Tensor running_var, const Tensor& weight,
                        const Tensor& bias, int64_t chunk_size, const std::vector<float>& factors, float eps) {
  return detail::batch_norm_fused(x, running_mean, running_var, weight, bias, true, chunk_size, factors, eps, false);
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
