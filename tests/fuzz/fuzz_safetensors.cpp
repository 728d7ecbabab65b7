// Fuzzes the safetensors loader (layers/checkpoint.cpp): header size, JSON, dtypes, shapes, offsets.
// The input and how it reaches the reader: feed_safetensors in feed.h. A norma::Error is a clean
// rejection; a crash, a sanitizer report, another exception, a timeout or OOM is a finding.
#include "core/error.h"
#include "feed.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    norma_fuzz::feed_safetensors(data, size);
  } catch (const norma::Error&) {
  }
  return 0;
}
