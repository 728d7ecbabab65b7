// The norm factory (layers/norm/factory.h) and the built-in models (layers/resnet/models.h):
// parameter counts, state_dict keys and shapes, outputs and gradients, against the PyTorch
// twins of tests/fixtures/gen_models.py (tests/fixtures/models.json).
#include <doctest/doctest.h>

#include <cmath>
#include <set>

#include "core/norma.h"
#include "det_fill.h"
#include "fixtures.h"
#include "gradcheck.h"
#include "layers/norm/batch_norm.h"
#include "layers/norm/factory.h"
#include "layers/norm/group_norm.h"
#include "layers/resnet/models.h"

using namespace norma;
using namespace norma::nn;
using norma::testing::det_fill;
using norma::testing::det_input;
using norma::testing::fixture_file;

namespace {

std::vector<std::string> keys(const NamedTensors& list) {
  std::vector<std::string> out;
  for (auto& [n, t] : list) out.push_back(n);
  return out;
}

bool has_key(const NamedTensors& list, const std::string& key) {
  for (auto& [n, t] : list)
    if (n == key) return true;
  return false;
}

NormConfig norm(const std::string& kind) {
  NormConfig c;
  c.kind = kind;
  return c;
}

// The largest |a - b| relative to the largest |b| (logits of deep nets differ in the last
// bits between two float32 implementations).
float rel_diff(const Tensor& a, const Tensor& b) {
  std::vector<float> x = a.to_vector(), y = b.to_vector();
  REQUIRE(x.size() == y.size());
  float diff = 0, scale = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    diff = std::max(diff, std::fabs(x[i] - y[i]));
    scale = std::max(scale, std::fabs(y[i]));
  }
  return diff / std::max(scale, 1e-6f);
}

}  // namespace

// ---- the factory ----------------------------------------------------------------------------

TEST_CASE("norm factory: each kind builds its layer") {
  CHECK(make_norm2d(norm("bn"), 16)->type_name() == "BatchNorm2d");
  CHECK(make_norm2d(norm("ghost"), 16)->type_name() == "GhostBatchNorm");
  CHECK(make_norm2d(norm("sync"), 16)->type_name() == "SyncBatchNorm");
  CHECK(make_norm2d(norm("in"), 16)->type_name() == "InstanceNorm2d");
  CHECK(make_norm2d(norm("rms"), 16)->type_name() == "RMSNorm2d");
  CHECK(make_norm2d(norm("none"), 16)->type_name() == "Identity");
  CHECK(make_norm1d(norm("bn"), 8)->type_name() == "BatchNorm1d");
  CHECK(make_norm1d(norm("ln"), 8)->type_name() == "LayerNorm");
  CHECK(make_norm1d(norm("rms"), 8)->type_name() == "RMSNorm");
  CHECK(make_norm1d(norm("none"), 8)->type_name() == "Identity");
  // ln on feature maps is GroupNorm(1, C): LayerNorm over (C, H, W), per-channel affine.
  auto ln = std::dynamic_pointer_cast<GroupNorm>(make_norm2d(norm("ln"), 32));
  REQUIRE(ln != nullptr);
  CHECK(ln->num_groups == 1);
  CHECK(ln->param("weight").shape() == Shape{32});
  // in: per-channel affine, no running statistics.
  auto in = make_norm2d(norm("in"), 16);
  CHECK(keys(in->state_dict()) == std::vector<std::string>{"weight", "bias"});
  // ghost takes its virtual batch size from the config.
  NormConfig g = norm("ghost");
  g.ghost_batch_size = 4;
  CHECK(make_norm2d(g, 8)->extra_repr().find("4") != std::string::npos);
  CHECK(conv_bias(norm("none")));
  CHECK_FALSE(conv_bias(norm("bn")));
  CHECK(norm_kinds().size() == 8);
}

TEST_CASE("norm factory: gn uses the largest divisor of C up to groups") {
  CHECK(gn_groups(16, 16) == 16);
  CHECK(gn_groups(64, 16) == 16);
  CHECK(gn_groups(8, 16) == 8);     // fewer channels than groups: one channel per group
  CHECK(gn_groups(100, 16) == 10);  // the mlp's 100 features
  CHECK(gn_groups(24, 16) == 12);
  CHECK(gn_groups(13, 4) == 1);
  NormConfig c = norm("gn");
  c.groups = 4;
  auto gn = std::dynamic_pointer_cast<GroupNorm>(make_norm2d(c, 32));
  REQUIRE(gn != nullptr);
  CHECK(gn->num_groups == 4);
}

TEST_CASE("norm factory: bad kinds and options are errors") {
  CHECK_THROWS_WITH_AS(make_norm2d(norm("batchnorm"), 8),
                       doctest::Contains("unknown kind 'batchnorm'; valid kinds: bn, ghost, sync, gn, ln, in, rms, none"),
                       Error);
  CHECK_THROWS_WITH_AS(make_norm1d(norm("in"), 8), doctest::Contains("make_norm1d: norm 'in' needs spatial dims"),
                       Error);
  NormConfig g = norm("ghost");
  g.ghost_batch_size = 0;
  CHECK_THROWS_WITH_AS(make_norm2d(g, 8), doctest::Contains("ghost_batch_size must be positive"), Error);
  CHECK_THROWS_WITH_AS(make_norm2d(norm("bn"), 0), doctest::Contains("make_norm2d: channels must be positive"), Error);
  CHECK_THROWS_WITH_AS(RMSNorm2d(4).forward(zeros({2, 3, 2, 2})),
                       doctest::Contains("RMSNorm2d: expected input [N, 4, H, W], got [2, 3, 2, 2]"), Error);
}

TEST_CASE("norm factory: rms on feature maps normalizes over (C, H, W) per sample") {
  RMSNorm2d rms(3);
  rms.param("weight").copy_(from_vector({1.f, 2.f, -1.f}, {3}));
  Tensor x = det_input({2, 3, 2, 2});
  Tensor y = rms(x);
  std::vector<float> xv = x.to_vector(), yv = y.to_vector();
  for (int n = 0; n < 2; ++n) {
    double ms = 0;
    for (int i = 0; i < 12; ++i) ms += double(xv[n * 12 + i]) * xv[n * 12 + i];
    double r = 1.0 / std::sqrt(ms / 12 + double(std::numeric_limits<float>::epsilon()));
    for (int i = 0; i < 12; ++i) {
      double w = i < 4 ? 1 : i < 8 ? 2 : -1;
      CHECK(yv[n * 12 + i] == doctest::Approx(xv[n * 12 + i] * r * w).epsilon(1e-5));
    }
  }
}

TEST_CASE("gradcheck: norm factory rms2d input and weight") {
  RMSNorm2d rms(3);
  Tensor x = norma::testing::leaf({2, 3, 2, 2}, 1);
  Tensor w = norma::testing::leaf({3}, 2);
  GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        rms.param("weight") = in[1];
        return rms(in[0]);
      },
      (std::vector<Tensor>{x, w}));
}

// ---- the models -----------------------------------------------------------------------------

TEST_CASE("models: resnet20 has 269,722 parameters") {
  // conv1 432 + bn1 32; layer1 3 x (2 x 2304 + 2 x 32); layer2 (4608 + 9216 + 128) +
  // 2 x (2 x 9216 + 128); layer3 (18432 + 36864 + 256) + 2 x (2 x 36864 + 256); fc 650.
  CHECK(make_model("resnet20")->num_parameters() == 269722);
  // none: the 19 convs get biases (7 x 16 + 6 x 32 + 6 x 64 = 688), the norms' 1376 go.
  CHECK(make_model("resnet20", norm("none"))->num_parameters() == 269722 - 1376 + 688);
  // rms keeps only a scale per channel.
  CHECK(make_model("resnet20", norm("rms"))->num_parameters() == 269722 - 1376 / 2);
}

// One model of each kind is built once here (the deep ones take a moment to initialise).
TEST_CASE("models: state_dict, parameter count and output shape of every model match the PyTorch twins") {
  const auto& dicts = fixture_file("models").at("state_dict");
  const auto& counts = fixture_file("models").at("num_params");
  CHECK(counts.size() == model_names().size());
  for (const auto& name : model_names()) {
    INFO(name);
    auto m = make_model(name);
    CHECK(m->num_parameters() == counts.at(name).at("bn").get<int64_t>());
    StateDict sd = m->state_dict();
    const auto& want = dicts.at(name);
    REQUIRE(sd.size() == want.size());
    for (size_t i = 0; i < sd.size(); ++i) {
      CHECK(sd[i].first == want[i][0].get<std::string>());
      CHECK(sd[i].second.shape() == want[i][1].get<Shape>());
    }
    // A batch of 2; the CIFAR nets on 8x8 images (global average pool) to keep this fast.
    Shape in = model_info(name).input_shape;
    if (in[0] == 3) in = {3, 8, 8};
    in.insert(in.begin(), 2);
    Tensor y = (*m)(det_input(in));
    CHECK(y.shape() == Shape{2, 10});
    for (float v : y.to_vector()) CHECK(std::isfinite(v));
  }
  CHECK((*make_model("resnet20", {}, 100))(det_input({2, 3, 32, 32})).shape() == Shape{2, 100});
  CHECK((*make_model("vgg"))(det_input({1, 3, 32, 32})).shape() == Shape{1, 10});
  CHECK((*make_model("mlp"))(det_input({3, 784})).shape() == Shape{3, 10});
}

TEST_CASE("models: named parameters follow torchvision") {
  auto r = make_model("resnet20");
  NamedTensors p = r->named_parameters();
  for (const char* k : {"conv1.weight", "bn1.weight", "bn1.bias", "layer1.0.conv1.weight", "layer1.0.bn1.weight",
                        "layer2.0.conv2.weight", "layer3.2.bn2.bias", "fc.weight", "fc.bias"})
    CHECK_MESSAGE(has_key(p, k), k);
  CHECK_FALSE(has_key(p, "conv1.bias"));
  CHECK(has_key(r->named_buffers(), "layer1.0.bn1.running_mean"));
  CHECK(r->named_parameters().size() == 3 + 9 * 6 + 2);  // conv1, bn1; 9 blocks of conv, bn, conv, bn; fc
  // The norm keeps its bnX name whatever its kind.
  CHECK(has_key(make_model("resnet20", norm("gn"))->named_parameters(), "layer1.0.bn1.weight"));
  // Pre-activation nets: no bn1 after conv1, a final bn before the pool.
  NamedTensors pre = make_model("preact-resnet20")->named_parameters();
  CHECK(has_key(pre, "bn.weight"));
  CHECK_FALSE(has_key(pre, "bn1.weight"));
  CHECK(has_key(pre, "layer1.0.bn1.weight"));
  CHECK(has_key(make_model("preact-resnet164")->named_parameters(), "layer3.17.conv3.weight"));
  CHECK(keys(make_model("mlp")->named_parameters()) ==
        std::vector<std::string>{"fc1.weight", "bn1.weight", "bn1.bias", "fc2.weight", "bn2.weight", "bn2.bias",
                                 "fc3.weight", "bn3.weight", "bn3.bias", "fc4.weight", "fc4.bias"});
  CHECK(keys(make_model("lenet")->named_parameters()) ==
        std::vector<std::string>{"conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight", "bn2.weight", "bn2.bias",
                                 "fc1.weight", "bn3.weight", "bn3.bias", "fc2.weight", "fc2.bias"});
  // InstanceNorm has no statistics over lenet's [N, 128] features: fc1 is left unnormalized.
  NormConfig in;
  in.kind = "in";
  CHECK(keys(make_model("lenet", in)->named_parameters()) ==
        std::vector<std::string>{"conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight", "bn2.weight", "bn2.bias",
                                 "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"});
}

TEST_CASE("models: with norm none, convs and linears have biases and there are no norm parameters") {
  const auto& counts = fixture_file("models").at("num_params");
  // One model per structure (resnet32..110 are resnet20 with more blocks of the same code).
  for (const char* name : {"mlp", "lenet", "vgg", "resnet20", "preact-resnet20", "preact-resnet164", "plain20"}) {
    INFO(std::string(name));
    auto m = make_model(name, norm("none"));
    CHECK(m->num_parameters() == counts.at(name).at("none").get<int64_t>());
    for (auto& [key, t] : m->state_dict()) {
      CHECK_MESSAGE(key.find("bn") == std::string::npos, key);
      CHECK_MESSAGE(key.find("running") == std::string::npos, key);
    }
    for (auto& [mname, mod] : m->named_modules())
      if (mod->type_name() == "Conv2d" || mod->type_name() == "Linear") CHECK_MESSAGE(mod->has_param("bias"), mname);
  }
}

TEST_CASE("models: outputs match the PyTorch twins") {
  for (const auto& [kase, c] : fixture_file("models").at("forward").items()) {
    if (!c.contains("model")) continue;  // the block cases are in test_resnet_blocks.cpp
    INFO(kase);
    NormConfig cfg = norm(c.at("norm").get<std::string>());
    if (c.contains("ghost_batch_size")) cfg.ghost_batch_size = c.at("ghost_batch_size").get<int64_t>();
    auto m = make_model(c.at("model").get<std::string>(), cfg);
    det_fill(*m);
    m->train(c.at("train").get<bool>());
    Tensor x = det_input(c.at("input_shape").get<Shape>());
    CHECK(x.sum().item() == doctest::Approx(c.at("input_sum").get<double>()).epsilon(1e-4));
    Tensor want = from_vector(c.at("output").at("values").get<std::vector<float>>(),
                              c.at("output").at("shape").get<Shape>());
    Tensor y = (*m)(x);
    REQUIRE(y.shape() == want.shape());
    CHECK(rel_diff(y, want) < 1e-4f);
  }
}

TEST_CASE("models: sync is batch norm in one process") {
  auto a = make_model("resnet20"), b = make_model("resnet20", norm("sync"));
  det_fill(*a);
  det_fill(*b);
  Tensor x = det_input({2, 3, 8, 8});
  CHECK(equal((*a)(x), (*b)(x)));
}

TEST_CASE("models: one backward gives every parameter a finite gradient") {
  for (const char* name : {"mlp", "lenet", "vgg", "resnet20", "preact-resnet20", "plain20"}) {
    INFO(name);
    auto m = make_model(name);
    Shape in = model_info(name).input_shape;
    if (in[0] == 3) in = {3, 8, 8};
    in.insert(in.begin(), 2);
    Tensor y = (*m)(det_input(in));
    Generator gen(5);
    (y * randn(y.shape(), &gen)).sum().backward();
    for (auto& [key, p] : m->named_parameters()) {
      INFO(key);
      REQUIRE(p.grad().defined());
      CHECK(p.grad().shape() == p.shape());
      bool finite = true, nonzero = false;
      for (float g : p.grad().to_vector()) {
        finite = finite && std::isfinite(g);
        nonzero = nonzero || g != 0.f;
      }
      CHECK(finite);
      CHECK(nonzero);
    }
  }
}

TEST_CASE("models: the registry names, describes and sizes each model") {
  std::vector<std::string> names = model_names();
  CHECK(names.size() == 14);
  CHECK(std::set<std::string>(names.begin(), names.end()).size() == names.size());
  CHECK(model_info("mlp").input_shape == Shape{1, 28, 28});
  CHECK(model_info("lenet").input_shape == Shape{1, 28, 28});
  CHECK(model_info("resnet56").input_shape == Shape{3, 32, 32});
  for (const auto& i : model_infos()) CHECK_FALSE(i.description.empty());
  CHECK_THROWS_WITH_AS(make_model("resnet18"), doctest::Contains("unknown model 'resnet18'; valid models: mlp, lenet"),
                       Error);
  CHECK_THROWS_WITH_AS(make_model("resnet20", norm("xx")), doctest::Contains("valid kinds: bn"), Error);
  CHECK_THROWS_WITH_AS(make_model("mlp", norm("in")), doctest::Contains("needs spatial dims"), Error);
  CHECK_THROWS_WITH_AS((*make_model("lenet"))(zeros({2, 1, 32, 32})),
                       doctest::Contains("LeNet: expected input [N, 1, 28, 28], got [2, 1, 32, 32]"), Error);
  CHECK_THROWS_WITH_AS((*make_model("mlp"))(zeros({2, 3, 32, 32})), doctest::Contains("MLP: expected input"), Error);
}

TEST_CASE("models: CIFAR ResNets start from kaiming_normal weights") {
  // N(0, 2 / fan_in): layer3's 3x3 convs have fan_in 576, std 0.0589.
  auto m = make_model("resnet56");
  std::vector<float> w = m->named_parameters().at(0).second.to_vector();  // conv1: fan_in 27
  double ss = 0, n = 0;
  for (auto& [key, p] : m->named_parameters())
    if (key.rfind("layer3.", 0) == 0 && key.find("conv") != std::string::npos && p.shape()[1] == 64)
      for (float v : p.to_vector()) ss += double(v) * v, n += 1;
  CHECK(n == 17 * 64 * 64 * 9);  // every layer3 conv but the first has 64 inputs
  CHECK(std::sqrt(ss / n) == doctest::Approx(std::sqrt(2.0 / 576)).epsilon(0.02));
  // kaiming_uniform(a=sqrt(5)) would give std 1/sqrt(3 * 27) = 0.11; normal gives 0.27.
  double s1 = 0;
  for (float v : w) s1 += double(v) * v;
  CHECK(std::sqrt(s1 / w.size()) > 0.18);
}
