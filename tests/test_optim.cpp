// SGD, Adam, AdamW against PyTorch (tests/fixtures/gen_optim.py), parameter groups, state_dict
// round trips, clip_grad_norm_, and error messages.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "core/norma.h"
#include "fixtures.h"
#include "layers/checkpoint.h"
#include "optim/adam.h"
#include "optim/clip.h"
#include "optim/sgd.h"

using namespace norma;
using namespace norma::testing;
using norma::optim::Optimizer;
using norma::optim::ParamGroup;

namespace {
// CHECKs |a - b| <= rtol |b| + atol elementwise, reporting the worst element.
void check_close(const Tensor& a, const Tensor& b, double rtol, double atol, const std::string& what) {
  INFO(what);
  REQUIRE(a.shape() == b.shape());
  std::vector<float> va = a.to_vector(), vb = b.to_vector();
  double worst = 0;
  bool ok = true;
  for (size_t i = 0; i < va.size(); ++i) {
    double err = std::fabs(double(va[i]) - double(vb[i]));
    ok = ok && err <= atol + rtol * std::fabs(double(vb[i]));
    worst = std::max(worst, err / std::max(std::fabs(double(vb[i])), 1e-30));
  }
  INFO("worst relative error " << worst);
  CHECK(ok);
}

// The fixture's optimizer over {W} (its options) and {c} (group1's options).
std::unique_ptr<Optimizer> make_optimizer(const nlohmann::json& kase, const Tensor& W, const Tensor& c) {
  const nlohmann::json& o = kase.at("options");
  auto opt = [&](const char* name, double dflt) {
    if (!o.contains(name)) return dflt;
    return o.at(name).is_boolean() ? double(o.at(name).get<bool>()) : o.at(name).get<double>();
  };
  std::vector<ParamGroup> groups{ParamGroup({W}), ParamGroup({c}, {{"lr", kase.at("group1").at("lr").get<double>()},
                                                                    {"weight_decay", 0.0}})};
  const std::string kind = kase.at("optimizer");
  if (kind == "sgd")
    return std::make_unique<optim::SGD>(groups, opt("lr", 0), opt("momentum", 0), opt("dampening", 0),
                                        opt("weight_decay", 0), opt("nesterov", 0) != 0);
  std::pair<double, double> betas{opt("beta1", 0.9), opt("beta2", 0.999)};
  if (kind == "adam")
    return std::make_unique<optim::Adam>(groups, opt("lr", 1e-3), betas, opt("eps", 1e-8), opt("weight_decay", 0),
                                         opt("amsgrad", 0) != 0);
  return std::make_unique<optim::AdamW>(groups, opt("lr", 1e-3), betas, opt("eps", 1e-8), opt("weight_decay", 1e-2),
                                        opt("amsgrad", 0) != 0);
}

// loss = mean((X @ W + c - Y)^2), the fixture's problem, with norma's autograd.
void backward_least_squares(const Tensor& X, const Tensor& Y, const Tensor& W, const Tensor& c) {
  Tensor r = sub(add(matmul(X, W), c), Y);
  mean(mul(r, r)).backward();
}

Tensor leaf_from(const std::string& kase, const std::string& name) {
  return fixture_tensor("optim", kase, name).requires_grad_();
}
}  // namespace

TEST_CASE("optim: SGD, Adam and AdamW match PyTorch given its gradients (5 steps, two groups)") {
  for (const auto& [name, kase] : fixture_file("optim").items()) {
    CAPTURE(name);
    Tensor W = leaf_from(name, "W0"), c = leaf_from(name, "c0");
    auto opt = make_optimizer(kase, W, c);
    for (int s = 1; s <= 5; ++s) {
      CAPTURE(s);
      W.set_grad(fixture_tensor("optim", name, "gW" + std::to_string(s)));
      c.set_grad(fixture_tensor("optim", name, "gc" + std::to_string(s)));
      opt->step();
      check_close(W, fixture_tensor("optim", name, "W" + std::to_string(s)), 1e-6, 1e-7, "W");
      check_close(c, fixture_tensor("optim", name, "c" + std::to_string(s)), 1e-6, 1e-7, "c");
    }
  }
}

TEST_CASE("optim: SGD, Adam and AdamW match PyTorch on the least-squares problem with norma's gradients") {
  for (const auto& [name, kase] : fixture_file("optim").items()) {
    CAPTURE(name);
    Tensor X = fixture_tensor("optim", name, "X"), Y = fixture_tensor("optim", name, "Y");
    Tensor W = leaf_from(name, "W0"), c = leaf_from(name, "c0");
    auto opt = make_optimizer(kase, W, c);
    for (int s = 1; s <= 5; ++s) {
      CAPTURE(s);
      opt->zero_grad();
      backward_least_squares(X, Y, W, c);
      check_close(W.grad(), fixture_tensor("optim", name, "gW" + std::to_string(s)), 1e-5, 1e-6, "gW");
      opt->step();
      check_close(W, fixture_tensor("optim", name, "W" + std::to_string(s)), 1e-6, 1e-7, "W");
      check_close(c, fixture_tensor("optim", name, "c" + std::to_string(s)), 1e-6, 1e-7, "c");
    }
  }
}

TEST_CASE("optim: state_dict keys follow PyTorch's names") {
  Tensor W = zeros({4, 3}).requires_grad_(), c = zeros({3}).requires_grad_();
  optim::SGD sgd({ParamGroup({W}), ParamGroup({c}, {{"weight_decay", 0.0}})}, 0.1, 0.9, 0, 1e-4);
  W.set_grad(ones({4, 3}));
  c.set_grad(ones({3}));
  sgd.step();
  std::map<std::string, Tensor> sd;
  for (const auto& [k, t] : sgd.state_dict()) sd[k] = t;
  for (const char* key : {"state.0.momentum_buffer", "state.1.momentum_buffer", "param_groups.0.lr",
                          "param_groups.0.momentum", "param_groups.1.weight_decay", "param_groups.0.initial_lr",
                          "param_groups.0.nesterov", "param_groups.0.params", "param_groups.1.params"})
    CHECK_MESSAGE(sd.count(key), key);
  CHECK(sd["state.1.momentum_buffer"].shape() == Shape{3});
  CHECK(sd["param_groups.1.params"].to_vector() == std::vector<float>{1});
  CHECK(sd["param_groups.0.weight_decay"].to_vector()[0] == 1e-4f);
  CHECK(sd["param_groups.1.weight_decay"].to_vector()[0] == 0.f);

  optim::Adam adam(std::vector<Tensor>{W, c});
  adam.step();
  adam.step();
  for (const auto& [k, t] : adam.state_dict())
    if (k == "state.0.step") {
      CHECK(t.shape() == Shape{});
      CHECK(t.item() == 2.f);
    }
}

TEST_CASE("optim: state_dict through a safetensors file resumes bit for bit (3 + 2 steps == 5 steps)") {
  Tensor X = fixture_tensor("optim", "sgd_momentum", "X"), Y = fixture_tensor("optim", "sgd_momentum", "Y");
  auto path = (std::filesystem::temp_directory_path() / "norma_test_optim_state.safetensors").string();
  auto run = [&](Tensor& W, Tensor& c, Optimizer& opt, int steps) {
    for (int s = 0; s < steps; ++s) {
      opt.zero_grad();
      backward_least_squares(X, Y, W, c);
      opt.step();
    }
  };
  for (std::string name : {"sgd_weight_decay_nesterov", "adam_amsgrad", "adamw"}) {
    CAPTURE(name);
    const auto& kase = fixture_file("optim").at(name);
    // Group 1's lr is set to one float32 cannot hold: it must come back exactly.
    auto make = [&](const Tensor& W, const Tensor& c) {
      auto opt = make_optimizer(kase, W, c);
      opt->set_lr(opt->lr(1) / 3, 1);
      return opt;
    };
    Tensor W = leaf_from(name, "W0"), c = leaf_from(name, "c0");
    auto whole = make(W, c);
    run(W, c, *whole, 5);

    Tensor W1 = leaf_from(name, "W0"), c1 = leaf_from(name, "c0");
    auto first = make(W1, c1);
    run(W1, c1, *first, 3);
    nn::save_safetensors(path, first->state_dict());
    // A fresh optimizer over fresh parameters holding the 3-step values (the model checkpoint).
    Tensor W2 = W1.detach().clone().requires_grad_(), c2 = c1.detach().clone().requires_grad_();
    auto second = make_optimizer(kase, W2, c2);  // group 1's lr not changed: the checkpoint's wins
    second->load_state_dict(nn::load_safetensors(path));
    CHECK(second->lr(1) == first->lr(1));
    CHECK(second->param_groups()[1].options == first->param_groups()[1].options);
    run(W2, c2, *second, 2);
    CHECK(equal(W2, W));
    CHECK(equal(c2, c));
    run(W1, c1, *first, 2);  // the snapshot did not alias the live state
    CHECK(equal(W1, W));
  }
  std::filesystem::remove(path);
}

TEST_CASE("optim: load_state_dict rejects a checkpoint of other groups, sizes, shapes or optimizer") {
  Tensor W = zeros({4, 3}).requires_grad_(), c = zeros({3}).requires_grad_();
  optim::SGD sgd({ParamGroup({W}), ParamGroup({c})}, 0.1, 0.9);
  W.set_grad(ones({4, 3}));
  c.set_grad(ones({3}));
  sgd.step();
  auto sd = sgd.state_dict();

  Tensor W2 = zeros({4, 3}).requires_grad_(), c2 = zeros({3}).requires_grad_(), Wt = zeros({3, 4}).requires_grad_();
  optim::SGD one_group(std::vector<Tensor>{W2, c2}, 0.1, 0.9);
  CHECK_THROWS_WITH_AS(one_group.load_state_dict(sd),
                       doctest::Contains("the checkpoint has 2 parameter groups, the optimizer 1"), norma::Error);
  optim::SGD sizes({ParamGroup({W2, Wt}), ParamGroup({c2})}, 0.1, 0.9);
  CHECK_THROWS_WITH_AS(sizes.load_state_dict(sd),
                       doctest::Contains("param group 0 has 1 parameters in the checkpoint, 2 in the optimizer"),
                       norma::Error);
  optim::SGD shapes({ParamGroup({Wt}), ParamGroup({c2})}, 0.1, 0.9);
  CHECK_THROWS_WITH_AS(shapes.load_state_dict(sd),
                       doctest::Contains("state.0.momentum_buffer has shape [4, 3], expected [3, 4]"), norma::Error);
  optim::Adam adam({ParamGroup({W2}), ParamGroup({c2})});
  CHECK_THROWS_WITH_AS(adam.load_state_dict(sd), doctest::Contains("unexpected key state.0.momentum_buffer"),
                       norma::Error);
  CHECK_THROWS_WITH_AS(adam.load_state_dict(sd), doctest::Contains("unexpected key param_groups.0.momentum (Adam has no such option)"), norma::Error);
  auto missing = sd;
  missing.pop_back();  // param_groups.1.params
  optim::SGD ok({ParamGroup({W2}), ParamGroup({c2})}, 0.1, 0.9);
  CHECK_THROWS_WITH_AS(ok.load_state_dict(missing), doctest::Contains("missing key param_groups.1.params"),
                       norma::Error);
  ok.load_state_dict(sd);  // the matching one loads
}

TEST_CASE("optim: parameters without a gradient are skipped, zero_grad drops gradients") {
  Tensor W = ones({2, 2}).requires_grad_(), c = ones({2}).requires_grad_();
  optim::SGD sgd(std::vector<Tensor>{W, c}, 0.5, 0.9, 0, 0.1);
  W.set_grad(ones({2, 2}));
  sgd.step();
  CHECK(equal(c, ones({2})));
  CHECK(W.at({0, 0}) == doctest::Approx(1 - 0.5 * (1 + 0.1)));
  for (const auto& [k, t] : sgd.state_dict()) CHECK_MESSAGE(k.rfind("state.1.", 0) != 0, k);
  sgd.zero_grad();
  CHECK_FALSE(W.grad().defined());
}

TEST_CASE("optim: constructor and option errors name the optimizer and the value") {
  Tensor W = zeros({2}).requires_grad_();
  std::vector<Tensor> ps{W};
  CHECK_THROWS_WITH_AS(optim::SGD(ps, -0.1), doctest::Contains("SGD: invalid learning rate -0.1"), norma::Error);
  CHECK_THROWS_WITH_AS(optim::SGD(ps, 0.1, 0, 0, 0, true),
                       doctest::Contains("Nesterov momentum requires a momentum > 0 and zero dampening"), norma::Error);
  CHECK_THROWS_WITH_AS(optim::SGD(ps, 0.1, 0.9, 0.1, 0, true), doctest::Contains("dampening 0.1"), norma::Error);
  CHECK_THROWS_WITH_AS(optim::SGD(ps, 0.1, -0.5), doctest::Contains("SGD: invalid momentum -0.5"), norma::Error);
  CHECK_THROWS_WITH_AS(optim::Adam(ps, 1e-3, {1.0, 0.999}), doctest::Contains("Adam: invalid beta1 1"), norma::Error);
  CHECK_THROWS_WITH_AS(optim::AdamW(ps, -1.0), doctest::Contains("AdamW: invalid learning rate -1"), norma::Error);
  CHECK_THROWS_WITH_AS(optim::Adam({ParamGroup(ps, {{"momentum", 0.9}})}),
                       doctest::Contains("unknown option 'momentum' (Adam options: amsgrad, beta1, beta2, eps, lr, weight_decay)"),
                       norma::Error);
  CHECK_THROWS_WITH_AS(optim::SGD({ParamGroup(ps, {{"lr", -1.0}})}, 0.1),
                       doctest::Contains("SGD: invalid learning rate -1"), norma::Error);
  CHECK_THROWS_WITH_AS(optim::SGD({ParamGroup(ps), ParamGroup(ps)}, 0.1),
                       doctest::Contains("appears in more than one parameter group"), norma::Error);
  CHECK_THROWS_WITH_AS(optim::SGD(std::vector<Tensor>{}, 0.1), doctest::Contains("has no parameters"), norma::Error);
  CHECK_THROWS_WITH_AS(optim::SGD(std::vector<ParamGroup>{}, 0.1), doctest::Contains("empty parameter list"),
                       norma::Error);
  CHECK_THROWS_WITH_AS(optim::SGD(std::vector<Tensor>{mul(W, 2.f)}, 0.1), doctest::Contains("contiguous leaf"),
                       norma::Error);
  optim::SGD sgd(ps, 0.1);
  CHECK_THROWS_WITH_AS(sgd.set_lr(-1), doctest::Contains("SGD.set_lr: invalid learning rate -1"), norma::Error);
  CHECK_THROWS_WITH_AS(sgd.lr(1), doctest::Contains("group 1 out of range (1 groups)"), norma::Error);
}

TEST_CASE("optim: clip_grad_norm_ matches a hand computation") {
  Tensor a = zeros({2}).requires_grad_(), b = zeros({1, 1}).requires_grad_(), none = zeros({3}).requires_grad_();
  auto set = [&] {
    a.set_grad(from_vector({3, -4}, {2}));
    b.set_grad(from_vector({12}, {1, 1}));
  };
  // L2: sqrt(9 + 16 + 144) = 13; coef = 6.5 / (13 + 1e-6)
  set();
  CHECK(optim::clip_grad_norm_({a, b, none}, 6.5) == doctest::Approx(13).epsilon(1e-7));
  float coef = float(6.5 / (13 + 1e-6));
  CHECK(a.grad().to_vector() == std::vector<float>{3 * coef, -4 * coef});
  CHECK(b.grad().item() == 12 * coef);
  // below max_norm: untouched
  set();
  CHECK(optim::clip_grad_norm_({a, b}, 20) == doctest::Approx(13));
  CHECK(a.grad().to_vector() == std::vector<float>{3, -4});
  // inf: max |g| = 12;  1: 3 + 4 + 12 = 19;  3: (27 + 64 + 1728)^(1/3)
  set();
  CHECK(optim::clip_grad_norm_({a, b}, 6, optim::kInf) == doctest::Approx(12));
  CHECK(b.grad().item() == doctest::Approx(6).epsilon(1e-6));
  set();
  CHECK(optim::clip_grad_norm_({a, b}, 100, 1) == doctest::Approx(19));
  CHECK(optim::clip_grad_norm_({a, b}, 100, 3) == doctest::Approx(std::cbrt(27 + 64 + 1728.0)));
  // a NaN gradient gives a NaN norm (the caller's divergence signal)
  a.set_grad(from_vector({NAN, 1}, {2}));
  CHECK(std::isnan(optim::clip_grad_norm_({a, b}, 1)));
  CHECK(optim::clip_grad_norm_({none}, 1) == 0);
  CHECK_THROWS_WITH_AS(optim::clip_grad_norm_({a}, 1, 0), doctest::Contains("clip_grad_norm_: norm_type"), norma::Error);
}

TEST_CASE("optim: clip_grad_norm_ on a large gradient is the same with 1 and 2 threads") {
  Tensor p = zeros({300000}).requires_grad_();
  Tensor g = randn({300000}, nullptr);
  int threads = get_num_threads();
  double norms[2];
  Tensor clipped[2];
  for (int t : {1, 2}) {
    set_num_threads(t);
    p.set_grad(g.clone());
    norms[t - 1] = optim::clip_grad_norm_({p}, 1.0);
    clipped[t - 1] = p.grad();
  }
  set_num_threads(threads);
  CHECK(norms[0] == norms[1]);
  CHECK(norms[0] == doctest::Approx(std::sqrt(300000.0)).epsilon(0.01));
  CHECK(equal(clipped[0], clipped[1]));
}
