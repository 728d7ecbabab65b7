// The tape: reverse-mode automatic differentiation, define-by-run.
//
// Each differentiable op computes its output, then calls record(): if any input requires
// grad, the output gets a Node holding the op's backward closure and one Edge per input.
// Edges point at the input's own Node (an op output) or at the input itself (a leaf whose
// .grad() accumulates). backward() walks the Nodes in reverse topological order (iteratively,
// so a chain of 10,000 ops needs no deep stack), calls each closure once with the summed
// gradient of its output, and frees the closures as it goes.
//
// Writing an op (see docs/autograd.md):
//   Tensor out = ...forward...;
//   return record("my_op", out, {a, b}, [a, b](const Tensor& gout) -> std::vector<Tensor> {
//     return {grad_wrt_a, grad_wrt_b};   // one per input, same shapes; Tensor() = no gradient
//   });
// A closure may capture inputs and out.detach(), never `out` itself (that would be a cycle:
// out -> its Node -> closure -> out).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace norma {

using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Edge {
  std::shared_ptr<Node> node;        // the input is an op output: send the gradient here
  std::shared_ptr<TensorImpl> leaf;  // the input is a leaf that requires grad: accumulate here
  Shape shape;                       // the input's shape, which its gradient must have
};

struct Node {
  std::string name;       // the op's name, for error messages
  std::vector<Edge> next; // one per input of the op (empty Edge: no gradient needed)
  BackwardFn backward;    // null once the graph is released
  Tensor grad;            // gradient of this node's output, summed during backward()
  // Frees the nodes it alone owns iteratively: dropping a 10,000-op graph that was never
  // back-propagated (or was retained) must not recurse once per node.
  ~Node();
};

// Whether ops record onto the tape (thread-local; on by default).
bool grad_mode_enabled();
// Turns recording off in its scope, as torch::NoGradGuard.
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Anomaly detection (torch.autograd.set_detect_anomaly): while on, every op's forward output
// and every gradient of the backward pass is checked for NaN and +-Inf, and the first
// non-finite one throws norma::Error naming the op, forward or backward, and the shape
// (core/anomaly.h). Off by default; global, not per thread. Off, it costs one flag check per op.
void set_detect_anomaly(bool on);
bool detect_anomaly_enabled();
// Sets it in its scope (on by default), as torch::autograd::DetectAnomalyGuard.
class DetectAnomalyGuard {
 public:
  explicit DetectAnomalyGuard(bool on = true);
  ~DetectAnomalyGuard();
  DetectAnomalyGuard(const DetectAnomalyGuard&) = delete;
  DetectAnomalyGuard& operator=(const DetectAnomalyGuard&) = delete;

 private:
  bool previous_;
};

// Attaches `fn` as the backward of `out` when grad mode is on and any input requires grad;
// returns `out` either way.
Tensor record(const char* name, Tensor out, const std::vector<Tensor>& inputs, BackwardFn fn);

// Whether input i of an op needs a gradient (lets a backward skip work it would throw away).
inline bool needs_grad(const Tensor& t) { return t.defined() && t.requires_grad(); }

// Runs the backward pass from `root`, seeded with `grad` (same shape as root).
void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph);

}  // namespace norma
