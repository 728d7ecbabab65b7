// Writes the fuzzers' seed corpora: small valid files of each format and a few edge cases.
//   build-fuzz/fuzz_make_corpus tests/fuzz/corpus     (the committed corpora come from this)
// Everything is deterministic, so re-running it rewrites the same bytes.
#include <stb/stb_image_write.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "apps/run_dir.h"
#include "core/norma.h"
#include "layers/checkpoint.h"

namespace fs = std::filesystem;
using namespace norma;

namespace {
fs::path root;

void put(const std::string& target, const std::string& name, const std::string& bytes) {
  fs::create_directories(root / target);
  std::ofstream(root / target / name, std::ios::binary) << bytes;
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string be32(uint32_t v) { return {char(v >> 24), char((v >> 16) & 0xff), char((v >> 8) & 0xff), char(v & 0xff)}; }

std::string gzip(const std::string& bytes) {
  const fs::path tmp = fs::temp_directory_path() / "norma_make_corpus.gz";
  gzFile f = gzopen(tmp.c_str(), "wb9");
  gzwrite(f, bytes.data(), unsigned(bytes.size()));
  gzclose(f);
  std::string out = read(tmp);
  fs::remove(tmp);
  return out;
}

// ---- idx: 2 bytes (little-endian) = the images file's length, the images file, the labels file
std::string idx_input(const std::string& images, const std::string& labels) {
  return std::string{char(images.size() & 0xff), char(images.size() >> 8)} + images + labels;
}
std::string idx_images(uint32_t n, uint32_t rows, uint32_t cols) {
  std::string s = be32(2051) + be32(n) + be32(rows) + be32(cols);
  for (uint32_t k = 0; k < n * rows * cols; ++k) s += char((k * 37) % 256);
  return s;
}
std::string idx_labels(uint32_t n) {
  std::string s = be32(2049) + be32(n);
  for (uint32_t i = 0; i < n; ++i) s += char(i % 10);
  return s;
}
void idx() {
  put("idx", "valid_3x4x5", idx_input(idx_images(3, 4, 5), idx_labels(3)));
  put("idx", "valid_gzip", idx_input(gzip(idx_images(2, 3, 3)), gzip(idx_labels(2))));
  put("idx", "empty_sets", idx_input(idx_images(0, 1, 1), idx_labels(0)));
  put("idx", "count_mismatch", idx_input(idx_images(2, 2, 2), idx_labels(3)));
  put("idx", "truncated", idx_input(idx_images(2, 4, 4).substr(0, 30), idx_labels(2)));
  put("idx", "label_out_of_range", idx_input(idx_images(1, 2, 2), be32(2049) + be32(1) + char(10)));
}

// ---- cifar10: one batch file of 3073-byte records
std::string cifar(int n, int first_label = 0) {
  std::string s;
  for (int i = 0; i < n; ++i) {
    s += char((first_label + i) % 10);
    for (int k = 0; k < 3072; ++k) s += char((k * 13 + i) % 256);
  }
  return s;
}
void cifar10() {
  put("cifar10", "one_record", cifar(1));
  put("cifar10", "two_records", cifar(2, 8));
  put("cifar10", "gzip", gzip(cifar(1, 3)));
  put("cifar10", "bad_label", std::string(1, char(10)) + cifar(1).substr(1));
  put("cifar10", "truncated", cifar(1).substr(0, 3000));
}

// ---- safetensors
std::string raw_safetensors(const std::string& header, const std::string& data) {
  std::string s;
  for (int i = 0; i < 8; ++i) s += char((uint64_t(header.size()) >> (8 * i)) & 0xff);
  return s + header + data;
}
void safetensors(const fs::path& tmp) {
  nn::StateDict sd = {{"fc.weight", from_vector({1, 2, 3, 4, 5, 6}, {2, 3})},
                      {"fc.bias", from_vector({-1, 1}, {2})},
                      {"bn.num_batches_tracked", scalar_tensor(7.f)}};
  nn::save_safetensors((tmp / "a").string(), sd, {{"format", "pt"}, {"note", "seed"}});
  put("safetensors", "saved_by_norma", read(tmp / "a"));
  nn::save_safetensors((tmp / "b").string(), {});
  put("safetensors", "empty", read(tmp / "b"));
  const std::string f64 = std::string("\0\0\0\0\0\0\xf0\x3f", 8) + std::string(8, '\0');  // 1.0, 0.0
  put("safetensors", "f64_scalar_and_empty",
      raw_safetensors(R"({"x":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},)"
                      R"("e":{"dtype":"F32","shape":[0,3],"data_offsets":[16,16]},"__metadata__":{"k":"v"}})",
                      f64));
  put("safetensors", "overlap",
      raw_safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                      R"("b":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})",
                      std::string(8, '\x01')));
}

// ---- checkpoint: a last.ckpt as RunDir::save_checkpoint writes it (the real metadata of an
// mlp run, small stand-in tensors), and one whose tensors fit an mlp's first layer's names
void checkpoint(const fs::path& tmp) {
  apps::ModelSpec spec;
  spec.model = "mlp";
  spec.data = "mnist";
  spec.class_names = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  spec.input = {1, 28, 28};
  spec.mean = {0.1307f};
  spec.std = {0.3081f};
  nn::Metadata meta = spec.metadata();
  meta["format"] = "norma-checkpoint";
  meta["step"] = "12";
  meta["epoch"] = "1";
  meta["position"] = "3";
  meta["seconds"] = "4.5";
  meta["config"] = R"({"model":"mlp","lr":0.1,"seed":1})";
  nn::StateDict sd = {{"model.fc1.bias", from_vector({0.5f, -0.5f}, {2})},
                      {"model.bn1.num_batches_tracked", scalar_tensor(12.f)},
                      {"optimizer.state.0.momentum_buffer", from_vector({0.f, 1.f}, {2})}};
  nn::save_safetensors((tmp / "c").string(), sd, meta);
  put("checkpoint", "last_ckpt_mlp", read(tmp / "c"));
  meta.erase("format");
  nn::save_safetensors((tmp / "d").string(), sd, meta);
  put("checkpoint", "model_not_checkpoint", read(tmp / "d"));
  meta["format"] = "norma-checkpoint";
  meta["input_shape"] = "[1, 28]";
  nn::save_safetensors((tmp / "e").string(), sd, meta);
  put("checkpoint", "bad_input_shape", read(tmp / "e"));
}

// ---- image: PNG, JPEG and BMP written by stb_image_write, gray and RGB
void append(void* ctx, void* data, int size) {
  static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), size_t(size));
}
void image() {
  for (int c : {1, 3}) {
    const int w = 5, h = 4;
    std::string px;
    for (int i = 0; i < w * h * c; ++i) px += char((i * 29) % 256);
    std::string png, jpg, bmp;
    stbi_write_png_to_func(append, &png, w, h, c, px.data(), w * c);
    stbi_write_jpg_to_func(append, &jpg, w, h, c, px.data(), 90);
    stbi_write_bmp_to_func(append, &bmp, w, h, c, px.data());
    const std::string tag = c == 1 ? "gray" : "rgb";
    put("image", tag + ".png", png);
    put("image", tag + ".jpg", jpg);
    put("image", tag + ".bmp", bmp);
  }
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_make_corpus DIR  (writes DIR/<target>/ seed files)\n";
    return 2;
  }
  root = argv[1];
  const fs::path tmp = fs::temp_directory_path() / "norma_make_corpus";
  fs::create_directories(tmp);
  idx();
  cifar10();
  safetensors(tmp);
  checkpoint(tmp);
  image();
  fs::remove_all(tmp);
  std::cout << "wrote the seed corpora under " << root.string() << "\n";
}
