// Checkpoints in the safetensors format (https://github.com/huggingface/safetensors):
//   8 bytes: N, the header size, little-endian uint64
//   N bytes: a JSON object {"<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
//                           ..., "__metadata__": {"<key>": "<string>"}}
//   the rest: raw little-endian tensor data; offsets are relative to its start
// Keys are state_dict names, so a norma checkpoint loads into the PyTorch twin of the model
// (safetensors.torch.load_file + load_state_dict(strict=True)) and the other way round.
// norma writes F32, and I64 for integer counters (keys ending in "num_batches_tracked", which
// PyTorch keeps as int64); it reads F32, F64 and I64 (converted to float32).
#pragma once
#include <map>
#include <string>

#include "layers/module.h"

namespace norma::nn {

using Metadata = std::map<std::string, std::string>;

// Writes atomically: a temporary file in the same directory, fsync, then rename over `path`.
void save_safetensors(const std::string& path, const StateDict& tensors, const Metadata& metadata = {});
// Validates the whole file (header size, JSON, dtypes, shapes, offsets inside the data and
// not overlapping) before returning; errors name the file and what is wrong.
StateDict load_safetensors(const std::string& path, Metadata* metadata = nullptr);

// A module's state_dict to / from a file.
void save(const Module& module, const std::string& path, const Metadata& metadata = {});
void load(Module& module, const std::string& path, bool strict = true);

}  // namespace norma::nn
