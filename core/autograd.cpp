#include "core/autograd.h"

#include <chrono>
#include <unordered_map>

#include "core/anomaly.h"
#include "core/ops/elementwise.h"
#include "core/profiler.h"

namespace norma {
namespace {
thread_local bool g_grad_mode = true;
}

bool grad_mode_enabled() { return g_grad_mode; }
NoGradGuard::NoGradGuard() : previous_(g_grad_mode) { g_grad_mode = false; }
NoGradGuard::~NoGradGuard() { g_grad_mode = previous_; }

Node::~Node() {
  // Our inputs' nodes go on a local stack before the closure is destroyed, so releasing the
  // tensors it captured never ends a node's life inside this destructor. A node popped from
  // the stack that nobody else owns hands its own inputs to the stack the same way, then dies
  // with nothing left to free: the chain is walked in a loop, not by recursion.
  std::vector<std::shared_ptr<Node>> stack;
  auto release = [&stack](Node& n) {
    for (Edge& e : n.next)
      if (e.node) stack.push_back(std::move(e.node));
    n.next.clear();
    n.backward = nullptr;
  };
  release(*this);
  while (!stack.empty()) {
    std::shared_ptr<Node> n = std::move(stack.back());
    stack.pop_back();
    if (n.use_count() == 1) release(*n);
  }
}

Tensor record(const char* name, Tensor out, const std::vector<Tensor>& inputs, BackwardFn fn) {
  // Checked before the profiler charges the op, so the check counts as the op's forward time.
  if (anomaly::enabled() && !anomaly::in_backward()) anomaly::check_forward(name, out, inputs);
  if (profiler::enabled()) profiler::on_record(name);
  if (!g_grad_mode) return out;
  bool any = false;
  for (const Tensor& in : inputs) any = any || needs_grad(in);
  if (!any) return out;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->backward = std::move(fn);
  node->next.reserve(inputs.size());
  for (const Tensor& in : inputs) {
    Edge e;
    if (needs_grad(in)) {
      e.shape = in.shape();
      if (in.grad_fn())
        e.node = in.grad_fn();
      else
        e.leaf = in.impl_ptr();
    }
    node->next.push_back(std::move(e));
  }
  out.impl().grad_fn = std::move(node);
  return out;
}

namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Adds g into a leaf's gradient. The first gradient is copied, unless `holders` says who may
// hold g: then a g whose buffer nobody else can reach (its tensor held only by those holders,
// its storage by that tensor alone, contiguous from offset 0) is adopted as it is, as PyTorch
// does. Anything shared (add's backward hands one tensor to both inputs, a user's gradient,
// a view of a saved tensor) is copied.
void accumulate_leaf(TensorImpl& leaf, const Tensor& g, long holders = 0) {
  if (!leaf.grad) {
    const TensorImpl& gi = g.impl();
    const bool sole = holders > 0 && g.impl_ptr().use_count() == holders && gi.storage.use_count() == 1 &&
                      gi.offset == 0 && gi.storage->size() == g.numel() && g.is_contiguous() && !gi.grad_fn;
    if (sole) {
      leaf.grad = std::make_shared<TensorImpl>();
      leaf.grad->storage = gi.storage, leaf.grad->shape = gi.shape, leaf.grad->strides = gi.strides;
    } else {
      leaf.grad = g.clone().impl_ptr();
    }
    return;
  }
  Tensor acc(leaf.grad);
  const Tensor gc = g.contiguous();  // held: a strided g's copy must outlive the loop
  const float* src = gc.data();
  float* dst = acc.data();
  int64_t n = acc.numel();
  for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}
}  // namespace

void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph) {
  NORMA_CHECK(root.requires_grad(), "backward: the tensor does not require grad (no input of ",
              "the ops that made it has requires_grad_())");
  NORMA_CHECK(grad.shape() == root.shape(), "backward: gradient of shape ", grad.shape(),
              " given for a tensor of shape ", root.shape());
  NoGradGuard no_grad;  // backward closures are not themselves recorded
  profiler::Quiet profiler_quiet;  // ops inside closures are not forwards
  anomaly::BackwardScope anomaly_scope;  // nor checked as forwards: their result is the gradient
  if (root.is_leaf()) {
    accumulate_leaf(root.impl(), grad);
    return;
  }

  // 1. Count, for every node reachable from the root, how many edges point at it.
  std::unordered_map<Node*, int> pending;
  std::vector<Node*> stack{root.grad_fn().get()};
  pending[root.grad_fn().get()] = 0;
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next) {
      if (!e.node) continue;
      auto [it, inserted] = pending.try_emplace(e.node.get(), 0);
      it->second++;
      if (inserted) stack.push_back(e.node.get());
    }
  }

  // 2. Kahn's algorithm: a node runs once every consumer has sent it its gradient.
  std::vector<std::shared_ptr<Node>> ready{root.grad_fn()};
  root.grad_fn()->grad = grad;
  while (!ready.empty()) {
    std::shared_ptr<Node> n = std::move(ready.back());
    ready.pop_back();
    NORMA_CHECK(n->backward, "backward: the graph through '", n->name,
                "' was already released by an earlier backward() (pass retain_graph=true to "
                "back-propagate twice)");
    std::vector<Tensor> grads;
    if (n->grad.defined()) {
      if (anomaly::enabled()) anomaly::check_grad_received(n->name.c_str(), n->grad);
      const bool profiling = profiler::enabled();
      const Clock::time_point t0 = profiling ? Clock::now() : Clock::time_point();
      grads = n->backward(n->grad);
      if (profiling) profiler::add(n->name.c_str(), true, seconds_since(t0));
      NORMA_CHECK(grads.size() == n->next.size(), "backward of '", n->name, "' returned ",
                  grads.size(), " gradients for ", n->next.size(), " inputs");
      if (anomaly::enabled())
        for (size_t i = 0; i < grads.size(); ++i)
          if (n->next[i].node || n->next[i].leaf) anomaly::check_grad_returned(n->name.c_str(), grads[i], i);
    }
    n->grad = Tensor();
    const bool profiling = profiler::enabled();
    const Clock::time_point t_acc = profiling ? Clock::now() : Clock::time_point();
    for (size_t i = 0; i < n->next.size(); ++i) {
      const Edge& e = n->next[i];
      const Tensor g = i < grads.size() ? grads[i] : Tensor();
      if (g.defined() && (e.node || e.leaf))
        NORMA_CHECK(g.shape() == e.shape, "backward of '", n->name, "': gradient ", i,
                    " has shape ", g.shape(), ", expected ", e.shape);
      // g's holders here: this copy and grads[i]
      if (e.leaf && g.defined()) accumulate_leaf(*e.leaf, g, 2);
      if (!e.node) continue;
      if (g.defined()) e.node->grad = e.node->grad.defined() ? add(e.node->grad, g) : g;
      if (--pending[e.node.get()] == 0) ready.push_back(e.node);
    }
    if (profiling) profiler::add("accumulate_grad", true, seconds_since(t_acc));
    if (!retain_graph) {
      n->backward = nullptr;
      n->next.clear();
    }
  }
}

}  // namespace norma
