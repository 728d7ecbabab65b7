// norma predict --checkpoint F IMAGE...: the most likely classes of each image file.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <numeric>

#include "apps/commands.h"
#include "apps/inference.h"
#include "apps/run_dir.h"
#include "core/norma.h"
#include "data/image_folder.h"

namespace norma::apps {

std::vector<Prediction> predict_images(const std::string& checkpoint, const std::vector<std::string>& images, int64_t k) {
  NORMA_CHECK(k >= 1, "--top must be at least 1, got ", k);
  NORMA_CHECK(!images.empty(), "predict: no image files given");
  TrainedModel m = load_trained_model(checkpoint);
  const data::ImageShape in = m.spec.input;
  const data::Normalize normalize(m.spec.mean, m.spec.std);
  const int64_t C = int64_t(m.spec.class_names.size()), plane = in.numel();
  k = std::min(k, C);
  Generator unused;  // Normalize draws nothing
  NoGradGuard no_grad;
  std::vector<Prediction> out;
  const int64_t chunk = 64;  // images per forward
  for (size_t begin = 0; begin < images.size(); begin += chunk) {
    const size_t end = std::min(images.size(), begin + size_t(chunk));
    Tensor x = empty({int64_t(end - begin), in.channels, in.height, in.width});
    float* px = x.data();
    for (size_t i = begin; i < end; ++i) {
      // Resized (bilinear) to the model's input, grayscale for a one-channel model; errors name the file.
      std::vector<uint8_t> pixels = data::load_image(images[i], in.height, in.width, in.channels);
      float* img = px + int64_t(i - begin) * plane;
      for (int64_t j = 0; j < plane; ++j) img[j] = float(pixels[size_t(j)]) / 255.f;
      normalize.apply(img, in.channels, in.height, in.width, unused);
    }
    std::vector<float> probs = softmax((*m.module)(x), 1).to_vector();
    for (size_t i = begin; i < end; ++i) {
      const float* p = probs.data() + int64_t(i - begin) * C;
      std::vector<int64_t> order(static_cast<size_t>(C));
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [p](int64_t a, int64_t b) { return p[a] > p[b]; });
      Prediction pred{images[i], {}};
      for (int64_t j = 0; j < k; ++j) pred.top.emplace_back(m.spec.class_names[size_t(order[size_t(j)])], p[order[size_t(j)]]);
      out.push_back(std::move(pred));
    }
  }
  return out;
}

void add_predict_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("predict", "Classify image files with a trained model (top-5 classes)");
  struct Options {
    std::string checkpoint;
    std::vector<std::string> images;
    int64_t top = 5;
  };
  auto o = std::make_shared<Options>();
  cmd->add_option("--checkpoint", o->checkpoint, "a run's model.safetensors or last.ckpt")->required();
  cmd->add_option("images", o->images, "image files (PNG, JPEG, BMP)")->required();
  cmd->add_option("--top", o->top, "classes to show per image")->capture_default_str();
  cmd->callback([o] {
    for (const Prediction& p : predict_images(o->checkpoint, o->images, o->top)) {
      std::printf("%s\n", p.image.c_str());
      for (const auto& [name, prob] : p.top) std::printf("  %7.3f%%  %s\n", 100.0 * double(prob), name.c_str());
    }
  });
}

}  // namespace norma::apps
