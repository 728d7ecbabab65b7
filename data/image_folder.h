// A folder of images, one sub-folder per class (torchvision's ImageFolder layout):
//   root/cat/001.png, root/cat/002.jpg, root/dog/x.bmp, ...
// Classes are the sub-folders' names in sorted order (label = position); images are the
// files ending in .png, .jpg, .jpeg or .bmp (any case), in sorted order; other files are
// skipped. Every image is decoded with stb_image, converted to grayscale or RGB and resized
// (bilinear) to one size, and kept as uint8.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace norma::data {

ImageDataset load_image_folder(const std::string& root, int64_t height, int64_t width, int64_t channels);

// One image file as uint8 [channels, height, width] (channels 1: luminance, 3: RGB).
std::vector<uint8_t> load_image(const std::string& path, int64_t height, int64_t width, int64_t channels);

// Bilinear resize of an interleaved [h, w, c] image to [out_h, out_w, c], sampling at pixel
// centers (PyTorch's interpolate(mode="bilinear", align_corners=False), without antialiasing).
std::vector<uint8_t> resize_bilinear(const uint8_t* src, int64_t h, int64_t w, int64_t c, int64_t out_h, int64_t out_w);

}  // namespace norma::data
