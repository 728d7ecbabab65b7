// AdaIN, fused. content [N, C, Hc, Wc] and style [N, C, Hs, Ws] are viewed as [N*C, Sc] and
// [N*C, Ss]: one row per (n, c). Per row:
//
//   mu_c    = 1/Sc sum_j c_j,   var_c = 1/Sc sum_j (c_j - mu_c)^2     (biased)
//   mu_s    = 1/Ss sum_k s_k,   var_s = 1/Ss sum_k (s_k - mu_s)^2
//   rstd_c  = 1 / sqrt(var_c + eps)
//   sigma_s = sqrt(var_s + eps)
//   xhat_j  = (c_j - mu_c) * rstd_c
//   y_j     = sigma_s * xhat_j + mu_s
//
// So each channel of y gets the style's mean and (up to eps) its standard deviation. The
// forward saves the four statistics (N*C floats each); the backward recomputes xhat and shat.
#include "layers/norm/adain.h"

#include <cmath>
#include <vector>

#include "core/autograd.h"
#include "core/kernels/norm_stats.h"

namespace norma::nn {
namespace {
constexpr int64_t kGrain = 32768;  // elements below which the loops stay on one thread
}

Tensor adain(const Tensor& content, const Tensor& style, float eps) {
  NORMA_CHECK(content.dim() == 4 && style.dim() == 4 && content.shape()[0] == style.shape()[0] &&
                  content.shape()[1] == style.shape()[1],
              "adain: expected content and style [N, C, H, W] with the same N and C, got content ", content.shape(),
              " and style ", style.shape());
  const int64_t NC = content.shape()[0] * content.shape()[1];
  const int64_t Sc = content.shape()[2] * content.shape()[3], Ss = style.shape()[2] * style.shape()[3];
  NORMA_CHECK(NC == 0 || (Sc > 0 && Ss > 0), "adain: content ", content.shape(), " and style ", style.shape(),
              " need spatial elements");
  Tensor cc = content.detach().contiguous(), sc = style.detach().contiguous();
  // Each mean is mean_hi + mean_lo (norm_stats.h): x - mean_hi is exact near the mean, so a large
  // common offset loses nothing to the float mean's rounding.
  Tensor mean_c = empty({NC}), rstd_c = empty({NC}), mean_s = empty({NC}), sigma_s = empty({NC});
  Tensor lo = empty({2, NC});  // mean_lo of the content, then of the style
  float *mcp = mean_c.data(), *rcp = rstd_c.data(), *msp = mean_s.data(), *ssp = sigma_s.data();
  float *lcp = lo.data(), *lsp = lo.data() + NC;
  row_mean_var(cc.data(), NC, Sc, mcp, rcp, lcp);  // rcp, ssp hold the variances until the next loop
  row_mean_var(sc.data(), NC, Ss, msp, ssp, lsp);
  for (int64_t i = 0; i < NC; ++i) {
    rcp[i] = 1.f / std::sqrt(rcp[i] + eps);  // rstd_c  = 1 / sqrt(var_c + eps)
    ssp[i] = std::sqrt(ssp[i] + eps);        // sigma_s = sqrt(var_s + eps)
  }
  Tensor out = empty(content.shape());
  const float* cp = cc.data();
  float* yp = out.data();
#pragma omp parallel for schedule(static) if (content.numel() > kGrain)
  for (int64_t r = 0; r < NC; ++r) {
    // y = sigma_s * (c - mu_c) * rstd_c + mu_s = (c - mu_c_hi) * scale + (mu_s_hi + mu_s_lo - mu_c_lo * scale)
    const float m = mcp[r], scale = rcp[r] * ssp[r], shift = msp[r] + (lsp[r] - lcp[r] * scale);
    const float* cr = cp + r * Sc;
    float* yr = yp + r * Sc;
    for (int64_t j = 0; j < Sc; ++j) yr[j] = (cr[j] - m) * scale + shift;
  }

  const bool need_c = needs_grad(content), need_s = needs_grad(style);
  return record("adain", out, {content, style},
                [cc, sc, mean_c, rstd_c, mean_s, sigma_s, lo, NC, Sc, Ss, need_c, need_s](
                    const Tensor& gout) -> std::vector<Tensor> {
    // Backward. Per row, the two sums over the content's positions:
    //   sdy = sum_j dy_j,   sdyx = sum_j dy_j * xhat_j
    // Content: instance norm's backward scaled by sigma_s (a constant with respect to c):
    //   dc_j = rstd_c * sigma_s * (dy_j - sdy/Sc - xhat_j * sdyx/Sc)
    // Style: y depends on s only through mu_s and sigma_s:
    //   dmu_s = sdy,   dsigma_s = sdyx
    // with d mu_s/d s_k = 1/Ss and d sigma_s/d s_k = 1/(2 sigma_s) * 2 (s_k - mu_s)/Ss
    // (the mean's own term cancels, as sum_k (s_k - mu_s) = 0), so with shat_k = (s_k - mu_s)/sigma_s:
    //   ds_k = (dmu_s + dsigma_s * shat_k) / Ss
    Tensor g = gout.contiguous();
    const float *dy = g.data(), *cp = cc.data(), *sp = sc.data();
    const float *mcp = mean_c.data(), *rcp = rstd_c.data(), *msp = mean_s.data(), *ssp = sigma_s.data();
    const float *lcp = lo.data(), *lsp = lo.data() + NC;
    std::vector<float> sdy(static_cast<size_t>(NC)), sdyx(static_cast<size_t>(NC));
    row_grad_sums(dy, cp, mcp, rcp, NC, Sc, sdy.data(), sdyx.data(), lcp);
    Tensor dc, ds;
    if (need_c) {
      dc = empty(cc.shape());
      float* dcp = dc.data();
#pragma omp parallel for schedule(static) if (cc.numel() > kGrain)
      for (int64_t r = 0; r < NC; ++r) {
        const float m = mcp[r], s = rcp[r], scale = s * ssp[r];
        // (xhat's mean_lo part folded into md)
        const float mdx = sdyx[size_t(r)] / float(Sc), md = sdy[size_t(r)] / float(Sc) - lcp[r] * s * mdx;
        const float *cr = cp + r * Sc, *dyr = dy + r * Sc;
        float* dcr = dcp + r * Sc;
        // dc = rstd_c * sigma_s * (dy - mean(dy) - xhat * mean(dy xhat))
        for (int64_t j = 0; j < Sc; ++j) dcr[j] = scale * (dyr[j] - md - (cr[j] - m) * s * mdx);
      }
    }
    if (need_s) {
      ds = empty(sc.shape());
      float* dsp = ds.data();
#pragma omp parallel for schedule(static) if (sc.numel() > kGrain)
      for (int64_t r = 0; r < NC; ++r) {
        const float m = msp[r], rsig = 1.f / ssp[r];
        // (shat's mean_lo part folded into dmu)
        const float dsigma = sdyx[size_t(r)], dmu = sdy[size_t(r)] - dsigma * lsp[r] * rsig;
        const float* sr = sp + r * Ss;
        float* dsr = dsp + r * Ss;
        // ds = (dmu_s + dsigma_s * shat) / Ss
        for (int64_t k = 0; k < Ss; ++k) dsr[k] = (dmu + dsigma * (sr[k] - m) * rsig) / float(Ss);
      }
    }
    return {dc, ds};
  });
}

Tensor AdaIN::forward(const Tensor& content, const Tensor& style) { return adain(content, style, eps); }

Tensor AdaIN::forward(const Tensor&) {
  throw Error("AdaIN: needs two inputs, a content and a style: call forward(content, style), not forward(x)");
}

std::string AdaIN::extra_repr() const { return detail::concat("eps=", eps); }

}  // namespace norma::nn
