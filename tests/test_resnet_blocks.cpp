// ResNet blocks (layers/resnet/blocks.h): the identity path of pre-activation blocks, the
// option A / B / plain shortcuts, outputs against the PyTorch twins
// (tests/fixtures/gen_models.py), gradients.
#include <doctest/doctest.h>

#include "core/norma.h"
#include "det_fill.h"
#include "fixtures.h"
#include "gradcheck.h"
#include "layers/containers.h"
#include "layers/resnet/blocks.h"

using namespace norma;
using namespace norma::nn;
using norma::testing::det_fill;
using norma::testing::det_input;
using norma::testing::fixture_file;

namespace {

NormConfig norm(const std::string& kind) {
  NormConfig c;
  c.kind = kind;
  return c;
}

Shortcut parse_shortcut(const std::string& s) { return s == "A" ? Shortcut::A : s == "B" ? Shortcut::B : Shortcut::None; }

std::shared_ptr<ResidualBlock> make_block(const std::string& type, int64_t in, int64_t planes, int64_t stride,
                                          const NormConfig& n, Shortcut s) {
  if (type == "BasicBlock") return std::make_shared<BasicBlock>(in, planes, stride, n, s);
  if (type == "PreActBlock") return std::make_shared<PreActBlock>(in, planes, stride, n, s);
  if (type == "Bottleneck") return std::make_shared<Bottleneck>(in, planes, stride, n, s);
  return std::make_shared<PreActBottleneck>(in, planes, stride, n, s);
}

std::vector<std::string> keys_of(const NamedTensors& list) {
  std::vector<std::string> out;
  for (auto& [n, t] : list) out.push_back(n);
  return out;
}

}  // namespace

TEST_CASE("resnet blocks: a pre-activation block adds its residual to the untouched input") {
  for (const char* kind : {"bn", "gn", "none"}) {
    INFO(kind);
    PreActBlock b(16, 16, 1, norm(kind));
    det_fill(b);
    CHECK(b.identity_shortcut());
    Tensor x = det_input({2, 16, 4, 4});
    Tensor y = b(x), f = b.residual(x);
    // y = x + F(x), nothing after the add: bit for bit, and y - x recovers F up to rounding.
    CHECK(equal(y, f + x));
    CHECK(allclose(y - x, f, 1e-5f, 1e-6f));
  }
  PreActBottleneck pb(64, 16, 1, norm("bn"));  // 64 -> 16 -> 16 -> 64: identity shortcut
  det_fill(pb);
  Tensor x = det_input({2, 64, 3, 3});
  CHECK(equal(pb(x), pb.residual(x) + x));
}

TEST_CASE("resnet blocks: option A subsamples and zero-pads channels") {
  Tensor x = det_input({2, 4, 5, 5});
  Tensor s = shortcut_a(x, 6, 2);
  REQUIRE(s.shape() == Shape{2, 6, 3, 3});
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 6; ++c)
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t j = 0; j < 3; ++j) CHECK(s.at({n, c, i, j}) == (c < 4 ? x.at({n, c, 2 * i, 2 * j}) : 0.f));
  CHECK(equal(shortcut_a(x, 4, 1), x));

  // In a block: parameter-free (only the two convs and two norms), shortcut as above.
  BasicBlock b(16, 32, 2, norm("bn"), Shortcut::A);
  CHECK(b.num_parameters() == 16 * 32 * 9 + 32 * 32 * 9 + 4 * 32);
  CHECK(b.children().size() == 4);
  Tensor h = det_input({2, 16, 4, 4});
  CHECK(equal(b.shortcut(h), shortcut_a(h, 32, 2)));
  CHECK_FALSE(b.identity_shortcut());
}

TEST_CASE("resnet blocks: option B is a strided 1x1 conv and a norm") {
  BasicBlock b(16, 32, 2, norm("bn"), Shortcut::B);
  auto ds = std::dynamic_pointer_cast<Sequential>(b.child("downsample"));
  REQUIRE(ds != nullptr);
  REQUIRE(ds->size() == 2);
  auto conv = std::dynamic_pointer_cast<Conv2d>((*ds)[0]);
  REQUIRE(conv != nullptr);
  CHECK(conv->kernel_size == IntPair(1));
  CHECK(conv->stride == IntPair(2));
  CHECK(conv->param("weight").shape() == Shape{32, 16, 1, 1});
  CHECK_FALSE(conv->has_param("bias"));
  CHECK((*ds)[1]->type_name() == "BatchNorm2d");
  CHECK(b.num_parameters() == 16 * 32 * 9 + 32 * 32 * 9 + 4 * 32 + 16 * 32 + 2 * 32);
  det_fill(b);
  b.eval();
  Tensor x = det_input({2, 16, 4, 4});
  CHECK(equal(b.shortcut(x), (*(*ds)[1])((*conv)(x))));
  CHECK(equal(b(x), relu(b.residual(x) + b.shortcut(x))));
  // With norm none the projection conv has a bias and no norm.
  BasicBlock bn(16, 32, 2, norm("none"), Shortcut::B);
  CHECK(keys_of(bn.child("downsample")->state_dict()) == std::vector<std::string>{"0.weight", "0.bias"});
  // Pre-activation: the conv alone (its input is relu(bn1(x)) already).
  PreActBlock pb(16, 32, 2, norm("bn"), Shortcut::B);
  CHECK(std::dynamic_pointer_cast<Sequential>(pb.child("downsample"))->size() == 1);
  // No projection where the shape does not change.
  BasicBlock same(16, 16, 1, norm("bn"), Shortcut::B);
  CHECK_THROWS_WITH_AS(same.child("downsample"), doctest::Contains("no child module 'downsample'"), Error);
  CHECK(same.identity_shortcut());
}

TEST_CASE("resnet blocks: plain mode has no shortcut and no add") {
  BasicBlock b(16, 32, 2, norm("bn"), Shortcut::None);
  CHECK(b.children().size() == 4);
  det_fill(b);
  Tensor x = det_input({2, 16, 4, 4});
  CHECK(equal(b(x), relu(b.residual(x))));
  CHECK_FALSE(b.identity_shortcut());
  CHECK_THROWS_WITH_AS(b.shortcut(x), doctest::Contains("BasicBlock: a plain block has no shortcut"), Error);
  PreActBlock p(16, 16, 1, norm("bn"), Shortcut::None);
  det_fill(p);
  Tensor y = det_input({2, 16, 4, 4});
  CHECK(equal(p(y), p.residual(y)));
}

TEST_CASE("resnet blocks: outputs and state_dict keys match the PyTorch twins") {
  int cases = 0;
  for (const auto& [kase, c] : fixture_file("models").at("forward").items()) {
    if (!c.contains("block")) continue;
    INFO(kase);
    auto b = make_block(c.at("block").get<std::string>(), c.at("in").get<int64_t>(), c.at("planes").get<int64_t>(),
                        c.at("stride").get<int64_t>(), norm(c.at("norm").get<std::string>()),
                        parse_shortcut(c.at("shortcut").get<std::string>()));
    StateDict sd = b->state_dict();
    const auto& want_keys = c.at("keys");
    REQUIRE(sd.size() == want_keys.size());
    for (size_t i = 0; i < sd.size(); ++i) {
      CHECK(sd[i].first == want_keys[i][0].get<std::string>());
      CHECK(sd[i].second.shape() == want_keys[i][1].get<Shape>());
    }
    det_fill(*b);
    b->eval();
    Tensor x = det_input(c.at("input_shape").get<Shape>());
    CHECK(x.sum().item() == doctest::Approx(c.at("input_sum").get<double>()).epsilon(1e-4));
    Tensor want = from_vector(c.at("output").at("values").get<std::vector<float>>(),
                              c.at("output").at("shape").get<Shape>());
    Tensor y = (*b)(x);
    REQUIRE(y.shape() == want.shape());
    CHECK(allclose(y, want, 1e-4f, 1e-5f));
    ++cases;
  }
  CHECK(cases == 10);
}

TEST_CASE("resnet blocks: bad arguments are errors") {
  CHECK_THROWS_WITH_AS(BasicBlock(32, 16, 1, norm("bn"), Shortcut::A),
                       doctest::Contains("BasicBlock: option A shortcut cannot reduce channels (32 -> 16)"), Error);
  CHECK_THROWS_WITH_AS(shortcut_a(zeros({2, 4, 4}), 8, 2),
                       doctest::Contains("shortcut_a: expected input [N, C, H, W], got [2, 4, 4]"), Error);
  CHECK_THROWS_WITH_AS(shortcut_a(zeros({2, 8, 4, 4}), 4, 1), doctest::Contains("cannot map [2, 8, 4, 4] to 4 channels"),
                       Error);
  CHECK_THROWS_WITH_AS(BasicBlock(16, 16, 0, norm("bn")), doctest::Contains("BasicBlock: bad sizes"), Error);
  CHECK_THROWS_WITH_AS(BasicBlock(16, 16, 1, norm("bogus")), doctest::Contains("unknown kind 'bogus'"), Error);
}

TEST_CASE("gradcheck: resnet shortcut_a") {
  Tensor x = norma::testing::leaf({2, 3, 5, 4}, 3);
  GRADCHECK([](const std::vector<Tensor>& in) { return shortcut_a(in[0], 5, 2); }, {x});
}

TEST_CASE("gradcheck: resnet blocks input and weights") {
  // Norm none keeps the check to convs, relu and the shortcuts (the norms have their own).
  // Positive inputs, weights and biases keep every relu input far above its kink, so central
  // differences are valid everywhere; relu's mask itself is gradchecked in the unary tests.
  for (const char* type : {"BasicBlock", "PreActBlock", "Bottleneck", "PreActBottleneck"}) {
    INFO(std::string(type));
    bool bottleneck = std::string(type).find("Bottleneck") != std::string::npos;
    auto b = make_block(type, 4, bottleneck ? 2 : 8, 2, norm("none"), Shortcut::A);  // 4 -> 8 channels, stride 2
    Generator gen(8);
    for (auto& [key, p] : b->named_parameters()) {
      Tensor dst = p;
      dst.copy_(uniform(p.shape(), 0.05f, 0.3f, &gen));
    }
    Tensor x = uniform({2, 4, 4, 4}, 0.1f, 1.f, &gen).requires_grad_();
    Tensor w1 = b->child("conv1")->param("weight").detach().clone().requires_grad_();
    Tensor w2 = b->child("conv2")->param("weight").detach().clone().requires_grad_();
    GRADCHECK(
        [&](const std::vector<Tensor>& in) {
          b->child("conv1")->param("weight") = in[1];
          b->child("conv2")->param("weight") = in[2];
          return (*b)(in[0]);
        },
        (std::vector<Tensor>{x, w1, w2}));
  }
}

TEST_CASE("resnet blocks: gradient reaches every parameter and the input") {
  for (const char* type : {"BasicBlock", "PreActBlock", "Bottleneck", "PreActBottleneck"}) {
    INFO(std::string(type));
    auto b = make_block(type, 8, 4, 2, norm("bn"), Shortcut::B);
    Tensor x = norma::testing::leaf({2, 8, 4, 4}, 5);
    Tensor y = (*b)(x);
    Generator gen(6);
    (y * randn(y.shape(), &gen)).sum().backward();
    REQUIRE(x.grad().defined());
    for (auto& [key, p] : b->named_parameters()) {
      INFO(key);
      REQUIRE(p.grad().defined());
      bool finite = true;
      for (float g : p.grad().to_vector()) finite = finite && std::isfinite(g);
      CHECK(finite);
    }
  }
}
