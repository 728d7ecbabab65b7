// norma demo: placeholder replaced below once ops exist.
#include <iostream>

#include "apps/commands.h"
#include "core/norma.h"

namespace norma::apps {

void add_demo_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("demo", "A tiny autograd demo: y = x^2 + 3x, dy/dx by backward()");
  cmd->callback([] {
    Tensor x = from_vector({1.f, 2.f, 3.f}, {3}).requires_grad_();
    Tensor y = (x * x + x * 3.f).sum();
    y.backward();
    std::cout << "x = " << x << "\ny = sum(x^2 + 3x) = " << y.item() << "\ndy/dx = 2x + 3 = " << x.grad() << "\n";
  });
}

}  // namespace norma::apps
