// Atomic file writes, for checkpoints, logs and fetched data: a temporary file next to the
// target (PATH.tmp.PID), fsync, then rename over it and fsync the directory. A reader never
// sees half a file, and an interrupted write leaves the previous file (or none) behind.
#pragma once
#include <cstddef>
#include <string>

namespace norma {

// Errors name the file: "cannot write PATH: <reason>".
void write_file_atomic(const std::string& path, const void* data, size_t n);

}  // namespace norma
