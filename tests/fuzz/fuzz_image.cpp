// Fuzzes image decoding (data/image_folder.cpp load_image: data/image_checks.cpp, stb_image, resize).
// The input and how it reaches the reader: feed_image in feed.h. A norma::Error is a clean
// rejection; a crash, a sanitizer report, another exception, a timeout or OOM is a finding.
#include "core/error.h"
#include "feed.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    norma_fuzz::feed_image(data, size);
  } catch (const norma::Error&) {
  }
  return 0;
}
