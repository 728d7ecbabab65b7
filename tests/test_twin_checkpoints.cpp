// PyTorch -> norma: checkpoints that the PyTorch twins of resnet20 and lenet wrote in the
// safetensors layout (tests/fixtures/gen_twin_checkpoints.py: default init, a few training
// forwards so the BatchNorm statistics moved, int64 num_batches_tracked) load strictly into
// norma's models, which then give the twins' eval-mode logits. (norma -> PyTorch is
// scripts/check_twins.py on the output of `norma export-models`.)
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/norma.h"
#include "fixtures.h"
#include "layers/checkpoint.h"
#include "layers/resnet/models.h"

using namespace norma;
using namespace norma::nn;
using norma::testing::fixture_dir;
using norma::testing::fixture_file;

namespace {

std::string twin_path(const std::string& model) { return fixture_dir() + "/twin_" + model + ".safetensors"; }

Tensor json_tensor(const nlohmann::json& j) {
  return from_vector(j.at("values").get<std::vector<float>>(), j.at("shape").get<Shape>());
}

// The JSON header of a safetensors file (the format is in layers/checkpoint.h).
nlohmann::json header_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open " << path);
  unsigned char size[8];
  in.read(reinterpret_cast<char*>(size), 8);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(size[i]) << (8 * i);
  std::string h(n, '\0');
  in.read(h.data(), std::streamsize(n));
  REQUIRE(in.good());
  return nlohmann::json::parse(h);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

const char* const kTwins[] = {"resnet20", "lenet"};

}  // namespace

TEST_CASE("twin checkpoints: PyTorch-saved resnet20 and lenet load strictly and give the twins' logits") {
  for (const char* name : kTwins) {
    INFO(name);
    const nlohmann::json& fx = fixture_file(std::string("twin_") + name);
    auto m = make_model(name);  // norm bn, its own (different) initialisation
    load(*m, twin_path(name), /*strict=*/true);
    m->eval();
    Tensor want = json_tensor(fx.at("logits"));
    Tensor y = (*m)(json_tensor(fx.at("input")));
    REQUIRE(y.shape() == want.shape());
    std::vector<float> a = y.to_vector(), b = want.to_vector();
    for (size_t i = 0; i < a.size(); ++i) CHECK(std::fabs(a[i] - b[i]) <= 1e-4f);

    // The int64 counters arrive as the same integer in norma's float buffer, for every BN.
    const float steps = fx.at("num_batches_tracked").get<float>();
    int counters = 0;
    for (auto& [key, t] : m->named_buffers()) {
      if (!ends_with(key, "num_batches_tracked")) continue;
      INFO(key);
      CHECK(t.shape() == Shape{});
      CHECK(t.item() == steps);
      ++counters;
    }
    CHECK(counters == (std::string(name) == "lenet" ? 3 : 19));
    // The running statistics came from the file: training moved them off their initial 0 / 1.
    const auto [key0, mean0] = m->named_buffers().at(0);  // a copy: named_buffers() is a temporary
    CHECK(key0 == "bn1.running_mean");
    float largest = 0;
    for (float v : mean0.to_vector()) largest = std::max(largest, std::fabs(v));
    CHECK(largest > 0.01f);
  }
}

TEST_CASE("twin checkpoints: the PyTorch files hold the state_dict keys, F32 and I64 counters") {
  for (const char* name : kTwins) {
    INFO(name);
    nlohmann::json h = header_of(twin_path(name));
    StateDict sd = make_model(name)->state_dict();
    CHECK(h.size() == sd.size() + 1);  // + __metadata__
    CHECK(h.at("__metadata__").at("model") == name);
    for (auto& [key, t] : sd) {
      INFO(key);
      REQUIRE(h.contains(key));
      CHECK(h[key].at("dtype") == (ends_with(key, "num_batches_tracked") ? "I64" : "F32"));
      CHECK(h[key].at("shape").get<Shape>() == t.shape());
    }
  }
}

TEST_CASE("twin checkpoints: norma re-saves a PyTorch checkpoint with the same keys, dtypes and values") {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("norma_twin_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  for (const char* name : kTwins) {
    INFO(name);
    auto m = make_model(name);
    load(*m, twin_path(name));
    const std::string out = (dir / (std::string(name) + ".safetensors")).string();
    save(*m, out);
    nlohmann::json theirs = header_of(twin_path(name)), ours = header_of(out);
    theirs.erase("__metadata__");
    REQUIRE(ours.size() == theirs.size());
    for (auto& [key, e] : theirs.items()) {
      INFO(key);
      REQUIRE(ours.contains(key));
      CHECK(ours[key].at("dtype") == e.at("dtype"));
      CHECK(ours[key].at("shape") == e.at("shape"));
    }
    StateDict a = load_safetensors(twin_path(name)), b = load_safetensors(out);
    REQUIRE(a.size() == b.size());
    for (auto& [key, t] : a) {
      auto it = std::find_if(b.begin(), b.end(), [&](const auto& kv) { return kv.first == key; });
      REQUIRE(it != b.end());
      CHECK_MESSAGE(equal(t, it->second), key);
    }
  }
  fs::remove_all(dir);
}

TEST_CASE("twin checkpoints: a bn checkpoint does not load strictly into a model with another norm") {
  NormConfig gn;
  gn.kind = "gn";
  auto m = make_model("resnet20", gn);
  std::string msg;
  try {
    load(*m, twin_path("resnet20"), /*strict=*/true);
  } catch (const Error& e) {
    msg = e.what();
  }
  CHECK(msg.find("twin_resnet20.safetensors") != std::string::npos);
  CHECK(msg.find("unexpected keys: ") != std::string::npos);
  for (const char* key : {"bn1.running_mean", "layer2.0.bn1.running_var", "layer3.2.bn2.num_batches_tracked"})
    CHECK_MESSAGE(msg.find(key) != std::string::npos, key);
  CHECK(msg.find("missing keys") == std::string::npos);
  // Non-strict, the weights and biases that do fit are loaded.
  load(*m, twin_path("resnet20"), /*strict=*/false);
  StateDict file = load_safetensors(twin_path("resnet20"));
  for (auto& [key, p] : m->named_parameters()) {
    auto it = std::find_if(file.begin(), file.end(), [&](const auto& kv) { return kv.first == key; });
    REQUIRE_MESSAGE(it != file.end(), key);
    CHECK_MESSAGE(equal(p, it->second), key);
  }
}
