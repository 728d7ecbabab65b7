// nn::Module: registration, dotted names, train/eval, state_dict round trips and errors,
// apply, repr and summary; containers; initialisers.
#include <doctest/doctest.h>

#include <cmath>

#include "core/norma.h"
#include "gradcheck.h"
#include "layers/containers.h"
#include "layers/init.h"
#include "layers/linear.h"

using namespace norma;
using namespace norma::nn;

namespace {
// A module with a parameter, a buffer and two children, to exercise the registry.
struct Block : Module {
  Block() : Module("Block") {
    register_parameter("scale", ones({4}));
    register_buffer("running_mean", zeros({4}));
    fc1 = register_module("fc1", std::make_shared<Linear>(4, 4));
    fc2 = register_module("fc2", std::make_shared<Linear>(4, 2, false));
  }
  Tensor forward(const Tensor& x) override { return (*fc2)((*fc1)(x * param("scale"))); }
  std::shared_ptr<Linear> fc1, fc2;
};

std::vector<std::string> names(const NamedTensors& list) {
  std::vector<std::string> out;
  for (auto& [n, t] : list) out.push_back(n);
  return out;
}
}  // namespace

TEST_CASE("module: dotted names of parameters, buffers and state_dict") {
  Sequential net;
  net.push_back(std::make_shared<Block>());
  net.push_back(std::make_shared<Block>());
  CHECK(names(net.named_parameters()) ==
        std::vector<std::string>{"0.scale", "0.fc1.weight", "0.fc1.bias", "0.fc2.weight", "1.scale", "1.fc1.weight",
                                 "1.fc1.bias", "1.fc2.weight"});
  CHECK(names(net.named_buffers()) == std::vector<std::string>{"0.running_mean", "1.running_mean"});
  // PyTorch's state_dict order: own parameters, own buffers, then children.
  CHECK(names(net.state_dict()) ==
        std::vector<std::string>{"0.scale", "0.running_mean", "0.fc1.weight", "0.fc1.bias", "0.fc2.weight", "1.scale",
                                 "1.running_mean", "1.fc1.weight", "1.fc1.bias", "1.fc2.weight"});
  CHECK(net.parameters().size() == 8);
  CHECK(net.num_parameters() == 2 * (4 + 16 + 4 + 8));
  CHECK(net.named_modules().size() == 7);
  CHECK(net.named_modules()[2].first == "0.fc1");
}

TEST_CASE("module: train and eval reach every descendant") {
  Sequential net{std::make_shared<Block>(), std::make_shared<Identity>()};
  CHECK(net.is_training());
  net.eval();
  for (auto& [n, m] : net.named_modules()) CHECK_FALSE(m->is_training());
  net.train();
  for (auto& [n, m] : net.named_modules()) CHECK(m->is_training());
}

TEST_CASE("module: zero_grad clears every parameter's gradient") {
  Block b;
  b(randn({3, 4})).sum().backward();
  for (const Tensor& p : b.parameters()) CHECK(p.grad().defined());
  b.zero_grad();
  for (const Tensor& p : b.parameters()) CHECK_FALSE(p.grad().defined());
}

TEST_CASE("module: state_dict round trip gives identical outputs") {
  manual_seed(1);
  Block a;
  manual_seed(2);
  Block b;
  Tensor x = randn({5, 4});
  CHECK_FALSE(equal(a(x), b(x)));
  b.load_state_dict(a.state_dict());
  CHECK(equal(a(x), b(x)));
  // Loading copies values: the loaded tensors are not shared with the source.
  a.param("scale").fill_(3.f);
  CHECK(b.param("scale").at({0}) == 1.f);
}

TEST_CASE("module: load_state_dict errors name missing, unexpected and mis-shaped keys") {
  Block b;
  StateDict sd = b.state_dict();
  StateDict missing(sd.begin() + 1, sd.end());
  CHECK_THROWS_WITH_AS(b.load_state_dict(missing), doctest::Contains("missing keys: scale"), Error);
  b.load_state_dict(missing, /*strict=*/false);  // non-strict: fine

  StateDict extra = sd;
  extra.emplace_back("fc3.weight", zeros({2}));
  CHECK_THROWS_WITH_AS(b.load_state_dict(extra), doctest::Contains("unexpected keys: fc3.weight"), Error);

  StateDict wrong = sd;
  wrong[2].second = zeros({4, 5});  // fc1.weight
  CHECK_THROWS_WITH_AS(b.load_state_dict(wrong, false),
                       doctest::Contains("shape mismatch for fc1.weight: checkpoint [4, 5], model [4, 4]"), Error);
}

TEST_CASE("module: registration errors and access") {
  Block b;
  CHECK_THROWS_WITH_AS(b.register_parameter("scale", ones({1})), doctest::Contains("Block: 'scale' is already registered"),
                       Error);
  CHECK_THROWS_WITH_AS(b.register_buffer("a.b", ones({1})), doctest::Contains("invalid buffer name 'a.b'"), Error);
  CHECK_THROWS_WITH_AS(b.param("nope"), doctest::Contains("Block: no parameter 'nope'"), Error);
  CHECK_THROWS_WITH_AS(b.child("fc9"), doctest::Contains("Block: no child module 'fc9'"), Error);
  CHECK(b.has_buffer("running_mean"));
  CHECK(b.param("scale").requires_grad());
  CHECK_FALSE(b.buffer("running_mean").requires_grad());
}

TEST_CASE("module: apply visits children before parents") {
  Sequential net{std::make_shared<Linear>(2, 3), std::make_shared<Linear>(3, 1)};
  std::vector<std::string> order;
  net.apply([&](Module& m) { order.push_back(m.type_name()); });
  CHECK(order == std::vector<std::string>{"Linear", "Linear", "Sequential"});
  net.apply([](Module& m) {
    if (m.has_param("bias")) init::zeros_(m.param("bias"));
  });
  CHECK(equal(net[1]->param("bias"), zeros({1})));
}

TEST_CASE("module: repr and summary like PyTorch's") {
  Sequential net{std::make_shared<Flatten>(), std::make_shared<Linear>(12, 5), std::make_shared<Linear>(5, 2, false)};
  CHECK(net.repr() ==
        "Sequential(\n"
        "  (0): Flatten(start_dim=1, end_dim=-1)\n"
        "  (1): Linear(in_features=12, out_features=5, bias=true)\n"
        "  (2): Linear(in_features=5, out_features=2, bias=false)\n"
        ")");
  std::string s = summary(net, {7, 3, 4});
  CHECK(s.find("1 (Linear)") != std::string::npos);
  CHECK(s.find("[7, 5]") != std::string::npos);
  CHECK(s.find("[7, 12]") != std::string::npos);
  CHECK(s.find("Total params: 75") != std::string::npos);
  CHECK(net.is_training());  // summary restores the mode
}

TEST_CASE("module: ModuleList holds modules, and is not callable") {
  ModuleList list;
  list.push_back(std::make_shared<Linear>(2, 2));
  list.push_back(std::make_shared<Identity>());
  CHECK(list.size() == 2);
  CHECK(names(list.named_parameters()) == std::vector<std::string>{"0.weight", "0.bias"});
  CHECK_THROWS_WITH_AS(list(zeros({1, 2})), doctest::Contains("ModuleList: not callable"), Error);
}

TEST_CASE("gradcheck: Linear input, weight and bias, 2-d and 3-d input") {
  Linear fc(4, 3);
  GRADCHECK([&](const std::vector<Tensor>& in) { return fc(in[0]); }, {testing::leaf({5, 4}), fc.param("weight"), fc.param("bias")});
  GRADCHECK([&](const std::vector<Tensor>& in) { return fc(in[0]); }, {testing::leaf({2, 3, 4}), fc.param("weight")});
  CHECK_THROWS_WITH_AS(fc(zeros({2, 5})), doctest::Contains("Linear: expected input [..., 4], got [2, 5]"), Error);
}

TEST_CASE("init: PyTorch's default bounds and moments") {
  manual_seed(0);
  Linear fc(400, 300);
  // kaiming_uniform(a = sqrt(5)) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)): variance bound^2 / 3.
  float bound = 1.f / std::sqrt(400.f);
  std::vector<float> w = fc.param("weight").to_vector();
  double sum = 0, sq = 0;
  float lo = 1, hi = -1;
  for (float v : w) sum += v, sq += double(v) * v, lo = std::min(lo, v), hi = std::max(hi, v);
  CHECK(lo >= -bound);
  CHECK(hi <= bound);
  CHECK(hi > 0.99f * bound);
  CHECK(sq / w.size() == doctest::Approx(bound * bound / 3).epsilon(0.02));
  CHECK(std::fabs(sum / w.size()) < 1e-3);

  Tensor k = empty({256, 128, 3, 3});
  init::kaiming_normal_(k, 0.f, "fan_in", "relu");
  std::vector<float> kv = k.to_vector();
  double ksq = 0;
  for (float v : kv) ksq += double(v) * v;
  CHECK(ksq / kv.size() == doctest::Approx(2.0 / (128 * 9)).epsilon(0.02));  // std = sqrt(2 / fan_in)

  Tensor x = empty({300, 200});
  init::xavier_uniform_(x);
  float xb = std::sqrt(6.f / 500.f);
  float xmax = 0;
  for (float v : x.to_vector()) xmax = std::max(xmax, std::fabs(v));
  CHECK(xmax <= xb);
  CHECK(xmax > 0.99f * xb);
  CHECK(init::calculate_gain("tanh") == doctest::Approx(5.0 / 3.0));
  CHECK_THROWS_WITH_AS(init::calculate_gain("swish"), doctest::Contains("unknown nonlinearity 'swish'"), Error);
  CHECK_THROWS_WITH_AS(init::fan_in(zeros({3})), doctest::Contains("at least 2 dims"), Error);
}
