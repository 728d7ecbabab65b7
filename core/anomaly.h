// Anomaly detection, PyTorch's torch.autograd.set_detect_anomaly simplified: while it is on,
// every op's forward output and every gradient a backward returns is scanned for NaN and +-Inf,
// and the first non-finite one throws norma::Error naming the op (its autograd name), whether
// forward or backward, the shape and the first bad element. The switch itself
// (set_detect_anomaly, DetectAnomalyGuard) is declared in core/autograd.h.
//
// Where it hooks (a single check of a global flag when off, as core/profiler.h):
//   record() (core/autograd.cpp): the op's output, before it is recorded (with grad mode off
//     too: evaluation is checked as well). Ops called inside backward closures are not checked
//     as forwards: their result is checked as the closure's gradient.
//   run_backward(): the gradient each node receives (a sum of checked gradients can still
//     overflow) and each gradient its closure returns.
// Unlike PyTorch, -inf in a forward output is an anomaly too (a masked logit would trip it).
#pragma once
#include <string>
#include <vector>

#include "core/tensor.h"

namespace norma::anomaly {

extern bool g_enabled;
inline bool enabled() { return g_enabled; }

// From record(): throws if `out` of op `name` holds a non-finite value, saying which of the
// op's `inputs` were non-finite already (they came from outside the checked ops: data, a
// parameter an optimizer step made non-finite, a leaf).
void check_forward(const char* name, const Tensor& out, const std::vector<Tensor>& inputs);
// From run_backward(): the gradient `grad` flowing into the backward of `name` (received), or
// the gradient its closure returned for input `input`.
void check_grad_received(const char* name, const Tensor& grad);
void check_grad_returned(const char* name, const Tensor& grad, size_t input);

// What the program is doing, appended to the message in parentheses (norma train sets
// "training step 5 of epoch 1" before each step and "evaluating after step 5" before each
// evaluation, while detection is on); "" for nothing.
void set_context(std::string what);

// run_backward() holds one: record() skips its forward check while any is alive.
struct BackwardScope {
  BackwardScope();
  ~BackwardScope();
};
bool in_backward();

}  // namespace norma::anomaly
