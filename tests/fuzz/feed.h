// How each fuzz target feeds its input to the real reader, shared by the fuzz targets and by
// the regression tests (tests/test_fuzz_regressions.cpp). The readers take paths, so the input
// goes to a scratch file (one per process and name, rewritten for every input, in /dev/shm
// when there is one). Each feed_* throws what the reader throws: norma::Error is a clean
// rejection; a crash, a sanitizer report or any other exception is a finding.
#pragma once
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "apps/run_dir.h"
#include "data/cifar10.h"
#include "data/idx.h"
#include "data/image_folder.h"
#include "layers/checkpoint.h"

namespace norma_fuzz {

inline std::string scratch_path(const std::string& name) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path dir = fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
  return (dir / ("norma_fuzz_" + std::to_string(::getpid()) + "_" + name)).string();
}

// Writes bytes to the scratch file `name` and returns its path.
inline std::string write_input(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = scratch_path(name);
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();  // the machine, not the input: stop the run
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

// IDX (MNIST): 2 bytes n (little-endian), the images file (n bytes, capped at what is left),
// then the labels file; read_idx, then the last example.
inline void feed_idx(const uint8_t* data, size_t size) {
  if (size < 2) return;
  const size_t n = std::min<size_t>(size_t(data[0]) | size_t(data[1]) << 8, size - 2);
  const std::string images = write_input("images", data + 2, n);
  const std::string labels = write_input("labels", data + 2 + n, size - 2 - n);
  norma::data::ImageDataset d = norma::data::read_idx(images, labels, norma::data::kMnistClasses);
  if (d.size() > 0) (void)d.get(d.size() - 1);
}

// CIFAR-10: one batch file, raw or gzipped.
inline void feed_cifar10(const uint8_t* data, size_t size) {
  norma::data::ImageDataset d = norma::data::read_cifar10({write_input("batch.bin", data, size)});
  if (d.size() > 0) (void)d.get(d.size() - 1);
}

// safetensors: the file; every value read back.
inline void feed_safetensors(const uint8_t* data, size_t size) {
  norma::nn::Metadata meta;
  norma::nn::StateDict tensors = norma::nn::load_safetensors(write_input("x.safetensors", data, size), &meta);
  for (auto& [name, t] : tensors) (void)t.to_vector();
}

// last.ckpt, as `norma train --resume` reads it: load_checkpoint, then the model rebuilt from
// the checkpoint's metadata and its model.* tensors loaded into it.
inline void feed_checkpoint(const uint8_t* data, size_t size) {
  norma::apps::Checkpoint c = norma::apps::load_checkpoint(write_input("last.ckpt", data, size));
  std::shared_ptr<norma::nn::Module> model = norma::apps::build_model(c.spec);
  model->load_state_dict(c.model);
}

// One image file (PNG, JPEG, BMP or anything stb_image knows) through load_image, to 8x8:
// odd-sized inputs to grayscale, even-sized to RGB.
inline void feed_image(const uint8_t* data, size_t size) {
  (void)norma::data::load_image(write_input("image", data, size), 8, 8, size % 2 ? 1 : 3);
}

}  // namespace norma_fuzz
