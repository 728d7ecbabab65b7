// norma demo: a 2-layer MLP learns the two-spirals toy set, written with core ops only
// (matmul, add, maximum as relu, cross_entropy) and plain full-batch gradient descent:
//   h = relu(x W1 + b1);  logits = h W2 + b2;  loss = cross_entropy(logits, labels)
//   after backward(), under NoGradGuard: p -= lr * p.grad(), then the gradient is dropped.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>

#include "apps/commands.h"
#include "core/norma.h"
#include "data/spirals.h"

namespace norma::apps {
namespace {

struct DemoOptions {
  int64_t steps = 2000;
  float lr = 1.f;
  int64_t hidden = 64;
  int64_t points = 200;  // per class
  int64_t classes = 2;
  float noise = 0.05f;
  uint64_t seed = 0;
  int threads = 0;       // 0: OpenMP's default
  int64_t every = 200;
};

struct Mlp {
  Tensor w1, b1, w2, b2;

  Mlp(int64_t in, int64_t hidden, int64_t out, Generator& gen) {
    // He init for the relu layer; the first biases spread the relu kinks over the data (a
    // zero bias would put every kink through the origin, the spirals' center).
    w1 = randn({in, hidden}, &gen).requires_grad_();
    b1 = uniform({hidden}, -1.f, 1.f, &gen).requires_grad_();
    w2 = mul(randn({hidden, out}, &gen), 1.f / std::sqrt(float(hidden))).requires_grad_();
    b2 = zeros({out}).requires_grad_();
  }
  Tensor forward(const Tensor& x) const {
    Tensor h = maximum(add(matmul(x, w1), b1), scalar_tensor(0.f));  // relu
    return add(matmul(h, w2), b2);
  }
  std::vector<Tensor> params() const { return {w1, b1, w2, b2}; }
};

// Fraction of rows whose largest logit is at the label.
double accuracy(const Tensor& logits, const std::vector<int64_t>& labels) {
  const int64_t n = logits.shape()[0], c = logits.shape()[1];
  std::vector<float> z = logits.to_vector();
  int64_t right = 0;
  for (int64_t i = 0; i < n; ++i) {
    int64_t best = 0;
    for (int64_t j = 1; j < c; ++j)
      if (z[size_t(i * c + j)] > z[size_t(i * c + best)]) best = j;
    right += best == labels[size_t(i)];
  }
  return n ? double(right) / double(n) : 0.0;
}

void run_demo(const DemoOptions& o) {
  if (o.threads > 0) set_num_threads(o.threads);
  NORMA_CHECK(o.steps >= 0 && o.hidden >= 1 && o.points >= 1 && o.classes >= 2 && o.every >= 1,
              "demo: expected --steps >= 0, --hidden >= 1, --points >= 1, --classes >= 2, --every >= 1");
  data::Spirals data = data::make_spirals(o.points, o.classes, o.noise, o.seed);
  const int64_t n = data.features.shape()[0];
  Generator gen(o.seed + 1);
  Mlp net(2, o.hidden, o.classes, gen);
  std::printf("%s spirals, %lld classes, %lld points; MLP 2-%lld-%lld (relu), full-batch gradient descent, lr %g, "
              "%lld steps, %d thread%s\n",
              o.classes == 2 ? "two" : "interleaved", (long long)o.classes, (long long)n, (long long)o.hidden,
              (long long)o.classes, double(o.lr), (long long)o.steps, get_num_threads(), get_num_threads() == 1 ? "" : "s");

  auto start = std::chrono::steady_clock::now();
  for (int64_t step = 1; step <= o.steps; ++step) {
    Tensor logits = net.forward(data.features);
    Tensor loss = cross_entropy(logits, data.labels);
    loss.backward();
    {
      NoGradGuard no_grad;
      for (Tensor p : net.params()) {
        p.copy_(sub(p, mul(p.grad(), o.lr)));
        p.zero_grad();
      }
    }
    if (step % o.every == 0 || step == o.steps)
      std::printf("step %5lld  loss %.4f  acc %5.1f%%\n", (long long)step, double(loss.item()),
                  100.0 * accuracy(logits, data.labels));
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  NoGradGuard no_grad;
  Tensor logits = net.forward(data.features);
  std::printf("final: loss %.4f, training accuracy %.1f%% (%lld points) in %.2f s\n",
              double(cross_entropy(logits, data.labels).item()), 100.0 * accuracy(logits, data.labels),
              (long long)n, seconds);
}

}  // namespace

void add_demo_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("demo", "Train a small MLP on the two-spirals toy set with core ops and plain SGD");
  auto o = std::make_shared<DemoOptions>();
  cmd->add_option("--steps", o->steps, "gradient steps (full batch)")->capture_default_str();
  cmd->add_option("--lr", o->lr, "learning rate")->capture_default_str();
  cmd->add_option("--hidden", o->hidden, "hidden units")->capture_default_str();
  cmd->add_option("--points", o->points, "points per class")->capture_default_str();
  cmd->add_option("--classes", o->classes, "number of spiral arms (classes)")->capture_default_str();
  cmd->add_option("--noise", o->noise, "angular noise (radians, std)")->capture_default_str();
  cmd->add_option("--seed", o->seed, "seed of the data and the initial weights")->capture_default_str();
  cmd->add_option("--threads", o->threads, "OpenMP/OpenBLAS threads (0: default)")->capture_default_str();
  cmd->add_option("--every", o->every, "print a line every this many steps")->capture_default_str();
  cmd->callback([o] { run_demo(*o); });
}

}  // namespace norma::apps
