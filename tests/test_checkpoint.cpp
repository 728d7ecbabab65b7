// safetensors checkpoints: round trips, the on-disk layout, atomic writes, and rejection of
// malformed files with a message (never a read out of bounds).
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/norma.h"
#include "layers/checkpoint.h"
#include "layers/containers.h"
#include "layers/linear.h"
#include "layers/resnet/models.h"

using namespace norma;
using namespace norma::nn;
namespace fs = std::filesystem;

namespace {
fs::path temp_dir() {
  fs::path d = fs::temp_directory_path() / ("norma_ckpt_test_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

// A safetensors file from a header string and raw data bytes.
std::string write_raw(const std::string& name, const std::string& header, const std::string& data,
                      int64_t claimed_size = -1) {
  std::string path = (temp_dir() / name).string();
  std::ofstream out(path, std::ios::binary);
  uint64_t n = claimed_size < 0 ? header.size() : uint64_t(claimed_size);
  for (int i = 0; i < 8; ++i) out.put(char((n >> (8 * i)) & 0xff));
  out << header << data;
  return path;
}

struct Net : Module {
  Net() : Module("Net") {
    fc = register_module("fc", std::make_shared<Linear>(3, 2));
    register_buffer("num_batches_tracked", scalar_tensor(7.f));
  }
  Tensor forward(const Tensor& x) override { return (*fc)(x); }
  std::shared_ptr<Linear> fc;
};
}  // namespace

TEST_CASE("checkpoint: save then load into a fresh model gives identical outputs") {
  manual_seed(3);
  Net a;
  manual_seed(4);
  Net b;
  std::string path = (temp_dir() / "net.safetensors").string();
  save(a, path, {{"epoch", "3"}});
  load(b, path);
  Tensor x = randn({4, 3});
  CHECK(equal(a(x), b(x)));
  CHECK(b.buffer("num_batches_tracked").item() == 7.f);
  Metadata meta;
  StateDict sd = load_safetensors(path, &meta);
  CHECK(meta.at("epoch") == "3");
  CHECK(sd.size() == 3);
  // No temporary file is left behind.
  for (auto& e : fs::directory_iterator(temp_dir())) CHECK(e.path().string().find(".tmp.") == std::string::npos);
}

TEST_CASE("checkpoint: the file is standard safetensors (F32, I64 counters, 8-byte aligned data)") {
  Net a;
  std::string path = (temp_dir() / "layout.safetensors").string();
  save(a, path);
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(uint8_t(bytes[size_t(i)])) << (8 * i);
  CHECK(n % 8 == 0);
  auto header = nlohmann::json::parse(bytes.substr(8, n));
  CHECK(header["fc.weight"]["dtype"] == "F32");
  CHECK(header["fc.weight"]["shape"] == nlohmann::json::array({2, 3}));
  CHECK(header["num_batches_tracked"]["dtype"] == "I64");
  CHECK(header["num_batches_tracked"]["shape"] == nlohmann::json::array());
  CHECK(bytes.size() == 8 + n + 4 * (6 + 2) + 8);
}

TEST_CASE("checkpoint: malformed files are rejected with a message") {
  const std::string f32x2 = std::string(8, '\0');
  auto loads = [](const std::string& path) { return load_safetensors(path); };
  CHECK_THROWS_WITH_AS(loads((temp_dir() / "missing.safetensors").string()), doctest::Contains("cannot open"), Error);
  CHECK_THROWS_WITH_AS(loads(write_raw("big.st", "{}", "", 1000)),
                       doctest::Contains("header size 1000 is larger than the file"), Error);
  CHECK_THROWS_WITH_AS(loads(write_raw("json.st", "{\"a\": [", "")), doctest::Contains("not valid JSON"), Error);
  CHECK_THROWS_WITH_AS(
      loads(write_raw("dtype.st", R"({"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}})", f32x2)),
      doctest::Contains("unsupported dtype BF16"), Error);
  CHECK_THROWS_WITH_AS(loads(write_raw("past.st", R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", f32x2)),
                       doctest::Contains("fall outside the data"), Error);
  CHECK_THROWS_WITH_AS(loads(write_raw("size.st", R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", f32x2)),
                       doctest::Contains("8 bytes of data for shape [3] of F32 (expected 12)"), Error);
  CHECK_THROWS_WITH_AS(loads(write_raw("overlap.st",
                                       R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                       R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                       f32x2)),
                       doctest::Contains("overlap"), Error);
  CHECK_THROWS_WITH_AS(loads(write_raw("neg.st", R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", f32x2)),
                       doctest::Contains("non-negative"), Error);
  CHECK_THROWS_WITH_AS(loads(write_raw("utf8.st", "{\"\xff\xfe\":{}}", "")), doctest::Contains("not valid JSON"), Error);
  CHECK_THROWS_WITH_AS(loads(write_raw("array.st", "[1, 2]", "")), doctest::Contains("header must be a JSON object"), Error);
}

TEST_CASE("checkpoint: loading into a model with other keys names them and the file") {
  Net a;
  std::string path = (temp_dir() / "other.safetensors").string();
  save_safetensors(path, {{"fc.weight", zeros({2, 3})}, {"fc.extra", zeros({1})}});
  CHECK_THROWS_WITH_AS(load(a, path), doctest::Contains(path.c_str()), Error);
  CHECK_THROWS_WITH_AS(load(a, path), doctest::Contains("unexpected keys: fc.extra"), Error);
  CHECK_THROWS_WITH_AS(save_safetensors("/nonexistent-dir/x.safetensors", {}), doctest::Contains("cannot write"), Error);
}

TEST_CASE("checkpoint: resnet20 with BatchNorm round trip, identical outputs in eval mode") {
  manual_seed(5);
  auto a = make_model("resnet20", NormConfig{"bn"});
  // A few training-mode forwards move the running statistics away from their initial values.
  for (int i = 0; i < 2; ++i) (*a)(randn({4, 3, 8, 8}));
  manual_seed(6);
  auto b = make_model("resnet20", NormConfig{"bn"});
  std::string path = (temp_dir() / "resnet20.safetensors").string();
  save(*a, path);
  load(*b, path);
  a->eval();
  b->eval();
  Tensor x = randn({2, 3, 8, 8});
  CHECK(equal((*a)(x), (*b)(x)));
  CHECK(b->child("bn1")->buffer("num_batches_tracked").item() == 2.f);
}

TEST_CASE("checkpoint: malformed safetensors, field by field, are rejected naming the file and the fault") {
  const std::string f32x2(8, '\0');
  auto tensor = [](const std::string& dtype, const std::string& shape, const std::string& offsets) {
    return R"({"a":{"dtype":)" + dtype + R"(,"shape":)" + shape + R"(,"data_offsets":)" + offsets + "}}";
  };
  struct Case {
    std::string name, header, data, expected;
    int64_t claimed_size = -1;
  };
  const std::vector<Case> cases = {
      {"short", "", "", "is not a safetensors file (0 bytes, expected at least 8)"},
      {"size_overflow", "", "", "header size 18446744073709551615 is larger than the file"},
      {"dtype_number", tensor("4", "[2]", "[0,8]"), f32x2, "dtype must be a string"},
      {"dtype_case", tensor(R"("f32")", "[2]", "[0,8]"), f32x2, "unsupported dtype f32"},
      {"dtype_i32", tensor(R"("I32")", "[2]", "[0,8]"), f32x2, "unsupported dtype I32"},
      {"no_shape", R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", f32x2, "needs dtype, shape and data_offsets"},
      {"not_object", R"({"a":[1,2]})", f32x2, "needs dtype, shape and data_offsets"},
      {"offsets_reversed", tensor(R"("F32")", "[2]", "[8,0]"), f32x2, "data_offsets [8, 0] fall outside the data"},
      {"offset_huge", tensor(R"("F32")", "[2]", "[0,18446744073709551615]"), f32x2, "fall outside the data (8 bytes)"},
      {"offsets_three", tensor(R"("F32")", "[2]", "[0,4,8]"), f32x2, "data_offsets must be two non-negative integers"},
      {"offsets_float", tensor(R"("F32")", "[2]", "[0,8.0]"), f32x2, "data_offsets must be two non-negative integers"},
      {"shape_float", tensor(R"("F32")", "[1.5]", "[0,8]"), f32x2, "shape entries must be non-negative integers"},
      {"shape_product", tensor(R"("F32")", "[2097152,2097152]", "[0,8]"), f32x2, "shape is too large"},
      {"shape_dim_huge", tensor(R"("F32")", "[0,18446744073709551615]", "[0,0]"), f32x2,
       "shape entry 18446744073709551615 is too large"},
      {"i64_size", tensor(R"("I64")", "[2]", "[0,8]"), f32x2, "8 bytes of data for shape [2] of I64 (expected 16)"},
      {"overlap_inside",
       R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
       R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
       std::string(16, '\0'), "tensors overlap in the data"},
      {"key_lone_surrogate", R"({"\udc80":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", f32x2,
       "not valid JSON"},
      {"metadata_bad_utf8", "{\"__metadata__\":{\"k\":\"\xc3\x28\"}}", "", "not valid JSON"},
      {"metadata_number", R"({"__metadata__":{"k":1}})", "", "__metadata__ value of 'k' is not a string"},
      {"metadata_array", R"({"__metadata__":[1]})", "", "__metadata__ must be an object of strings"},
  };
  for (Case c : cases) {
    CAPTURE(c.name);
    std::string path;
    if (c.name == "short") {
      path = (temp_dir() / "short.st").string();
      std::ofstream(path, std::ios::binary).flush();
    } else if (c.name == "size_overflow") {
      path = (temp_dir() / "overflow.st").string();
      std::ofstream(path, std::ios::binary) << std::string(8, '\xff') << "{}";
    } else {
      path = write_raw(c.name + ".st", c.header, c.data, c.claimed_size);
    }
    CHECK_THROWS_WITH_AS(load_safetensors(path), doctest::Contains(c.expected.c_str()), Error);
    CHECK_THROWS_WITH_AS(load_safetensors(path), doctest::Contains(path.c_str()), Error);
  }
  // Still valid: an empty tensor with empty offsets, and a scalar.
  const std::string ok = write_raw("ok.st", R"({"e":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},)"
                                            R"("s":{"dtype":"F32","shape":[],"data_offsets":[0,4]}})",
                                   std::string(4, '\0'));
  CHECK(load_safetensors(ok).size() == 2);
}
