#include "core/autograd.h"

#include <unordered_map>

#include "core/ops/elementwise.h"

namespace norma {
namespace {
thread_local bool g_grad_mode = true;
}

bool grad_mode_enabled() { return g_grad_mode; }
NoGradGuard::NoGradGuard() : previous_(g_grad_mode) { g_grad_mode = false; }
NoGradGuard::~NoGradGuard() { g_grad_mode = previous_; }

Tensor record(const char* name, Tensor out, const std::vector<Tensor>& inputs, BackwardFn fn) {
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
// Adds g into a leaf's gradient. The first gradient is copied: g may share its buffer with
// another gradient (add's backward hands the same tensor to both inputs).
void accumulate_leaf(TensorImpl& leaf, const Tensor& g) {
  if (!leaf.grad) {
    leaf.grad = g.clone().impl_ptr();
    return;
  }
  Tensor acc(leaf.grad);
  Tensor gc = g.contiguous();  // keep the copy alive while reading it
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
      grads = n->backward(n->grad);
      NORMA_CHECK(grads.size() == n->next.size(), "backward of '", n->name, "' returned ",
                  grads.size(), " gradients for ", n->next.size(), " inputs");
    }
    n->grad = Tensor();
    for (size_t i = 0; i < n->next.size(); ++i) {
      const Edge& e = n->next[i];
      const Tensor g = i < grads.size() ? grads[i] : Tensor();
      if (g.defined() && (e.node || e.leaf))
        NORMA_CHECK(g.shape() == e.shape, "backward of '", n->name, "': gradient ", i,
                    " has shape ", g.shape(), ", expected ", e.shape);
      if (e.leaf && g.defined()) accumulate_leaf(*e.leaf, g);
      if (!e.node) continue;
      if (g.defined()) e.node->grad = e.node->grad.defined() ? add(e.node->grad, g) : g;
      if (--pending[e.node.get()] == 0) ready.push_back(e.node);
    }
    if (!retain_graph) {
      n->backward = nullptr;
      n->next.clear();
    }
  }
}

}  // namespace norma
