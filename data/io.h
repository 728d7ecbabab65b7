// File helpers shared by the readers and `norma fetch`: whole-file reads that see through gzip,
// checksums of a file's content, atomic writes, and where the data directory is.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/atomic_file.h"

namespace norma::data {

// The bytes of a file, gunzipped when it is gzip (recognized by its magic bytes, not its name).
// Errors name the file ("cannot open", a corrupt or truncated gzip stream).
std::vector<uint8_t> read_file(const std::string& path);

// Size and MD5 of a file's content, gunzipped when it is gzip; streamed, so big files are fine.
struct ContentSum {
  int64_t size = 0;
  std::string md5;
};
ContentSum content_sum(const std::string& path);

// Atomic writes (core/atomic_file.h), here too for the loaders and fetch.
using norma::write_file_atomic;

// The data directory: the --data-dir flag when given, else $NORMA_DATA, else ./data.
std::string resolve_data_dir(const std::string& flag = "");

}  // namespace norma::data
