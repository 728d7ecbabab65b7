// One probe of the loss landscape along the gradient (Santurkar et al. 2018, Sec. 3.1), on a
// fixed batch with the model in training mode (BN normalizes by the batch's own statistics):
//
//   g = grad L(theta)
//   for eta in lr x factors:  L_eta = L(theta - eta g),  g_eta = grad L(theta - eta g)
//   loss variation            loss_max - loss_min over eta (eta = 0, L(theta), included)
//   gradient predictiveness   gdiff_min .. gdiff_max, the range of ||g_eta - g|| (L2 over all
//                             parameters)
//   effective beta-smoothness beta = max ||g_eta - g|| / ||eta g||
//
// Nothing is updated: the weights and buffers (BN's running statistics) are put back exactly
// and the gradients left zero.
#pragma once
#include <cstdint>
#include <vector>

#include "data/dataset.h"
#include "layers/module.h"

namespace norma::apps::experiments {

struct LandscapeProbe {
  int64_t step = 0;                 // the caller's label for when it was taken
  double loss = 0;                  // L(theta)
  double loss_min = 0, loss_max = 0;
  double gdiff_min = 0, gdiff_max = 0;
  double beta = 0;
};

// Mean cross-entropy of `model` on `batch` at the points above.
LandscapeProbe probe_landscape(nn::Module& model, const data::Batch& batch, double lr,
                               const std::vector<double>& eta_factors, int64_t step = 0);

}  // namespace norma::apps::experiments
