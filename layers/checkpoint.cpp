#include "layers/checkpoint.h"

#include "core/atomic_file.h"


#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

namespace norma::nn {
namespace {
using json = nlohmann::ordered_json;  // keeps tensors in file order

bool is_int64_key(const std::string& name) {
  const std::string suffix = "num_batches_tracked";
  return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void put_u64_le(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(char((v >> (8 * i)) & 0xff));
}

// Appends a tensor's values as little-endian F32 or I64 (this machine is little-endian, as
// checked in save_safetensors).
void append_data(std::string& out, const Tensor& t, bool as_int64) {
  std::vector<float> v = t.to_vector();
  if (!as_int64) {
    out.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
    return;
  }
  for (float f : v) {
    int64_t i = int64_t(std::llround(f));
    out.append(reinterpret_cast<const char*>(&i), sizeof(i));
  }
}

}  // namespace

void save_safetensors(const std::string& path, const StateDict& tensors, const Metadata& metadata) {
  static_assert(sizeof(float) == 4, "float32 expected");
  const uint16_t probe = 1;
  NORMA_CHECK(*reinterpret_cast<const uint8_t*>(&probe) == 1, "save: big-endian machines are not supported");
  json header = json::object();
  std::string data;
  for (const auto& [name, t] : tensors) {
    NORMA_CHECK(!header.contains(name), "save: duplicate tensor name '", name, "'");
    bool i64 = is_int64_key(name);
    size_t begin = data.size();
    append_data(data, t, i64);
    header[name] = {{"dtype", i64 ? "I64" : "F32"}, {"shape", t.shape()}, {"data_offsets", {begin, data.size()}}};
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // pad so the data starts 8-byte aligned
  std::string bytes;
  bytes.reserve(8 + h.size() + data.size());
  put_u64_le(bytes, h.size());
  bytes += h;
  bytes += data;
  write_file_atomic(path, bytes.data(), bytes.size());
}

StateDict load_safetensors(const std::string& path, Metadata* metadata) {
  std::ifstream in(path, std::ios::binary);
  NORMA_CHECK(in.good(), "load: cannot open ", path, ": ", std::strerror(errno));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  NORMA_CHECK(bytes.size() >= 8, "load: ", path, " is not a safetensors file (", bytes.size(), " bytes, expected at least 8)");
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(uint8_t(bytes[size_t(i)])) << (8 * i);
  NORMA_CHECK(n <= bytes.size() - 8, "load: ", path, ": header size ", n, " is larger than the file (", bytes.size(),
              " bytes)");
  json header;
  try {
    header = json::parse(bytes.begin() + 8, bytes.begin() + 8 + std::ptrdiff_t(n));
  } catch (const json::exception& e) {
    throw Error("load: " + path + ": the header is not valid JSON: " + e.what());
  }
  NORMA_CHECK(header.is_object(), "load: ", path, ": the header must be a JSON object");
  const char* data = bytes.data() + 8 + n;
  const uint64_t data_size = bytes.size() - 8 - n;

  StateDict out;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& e = it.value();
    if (name == "__metadata__") {
      NORMA_CHECK(e.is_object(), "load: ", path, ": __metadata__ must be an object of strings");
      for (auto m = e.begin(); m != e.end(); ++m) {
        NORMA_CHECK(m.value().is_string(), "load: ", path, ": __metadata__ value of '", m.key(), "' is not a string");
        if (metadata) (*metadata)[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = "load: " + path + ": tensor '" + name + "'";
    NORMA_CHECK(e.is_object() && e.contains("dtype") && e.contains("shape") && e.contains("data_offsets"), where,
                " needs dtype, shape and data_offsets");
    NORMA_CHECK(e["dtype"].is_string(), where, ": dtype must be a string");
    const std::string dtype = e["dtype"].get<std::string>();
    size_t item = dtype == "F32" ? 4 : dtype == "F64" || dtype == "I64" ? 8 : 0;
    NORMA_CHECK(item, where, ": unsupported dtype ", dtype, " (norma reads F32, F64 and I64)");
    NORMA_CHECK(e["shape"].is_array(), where, ": shape must be an array");
    Shape shape;
    uint64_t numel = 1;
    for (const json& d : e["shape"]) {
      NORMA_CHECK(d.is_number_unsigned(), where, ": shape entries must be non-negative integers");
      uint64_t v = d.get<uint64_t>();
      // Each entry too, not only the product: [0, 2^64 - 1] has 0 elements, but its second
      // size is no int64.
      const uint64_t max_numel = uint64_t(1) << 40;
      NORMA_CHECK(v <= max_numel, where, ": shape entry ", v, " is too large (at most 2^40)");
      NORMA_CHECK(v == 0 || numel <= max_numel / v, where, ": shape is too large");
      numel *= v;
      shape.push_back(int64_t(v));
    }
    const json& off = e["data_offsets"];
    NORMA_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned(), where,
                ": data_offsets must be two non-negative integers");
    uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    NORMA_CHECK(begin <= end && end <= data_size, where, ": data_offsets [", begin, ", ", end,
                "] fall outside the data (", data_size, " bytes)");
    NORMA_CHECK(end - begin == numel * item, where, ": ", end - begin, " bytes of data for shape ", shape, " of ", dtype,
                " (expected ", numel * item, ")");
    ranges.emplace_back(begin, end);
    Tensor t = empty(shape);
    float* dst = t.data();
    const char* src = data + begin;
    for (uint64_t i = 0; i < numel; ++i) {
      if (dtype == "F32") {
        std::memcpy(&dst[i], src + 4 * i, 4);
      } else if (dtype == "F64") {
        double v;
        std::memcpy(&v, src + 8 * i, 8);
        dst[i] = float(v);
      } else {
        int64_t v;
        std::memcpy(&v, src + 8 * i, 8);
        dst[i] = float(v);
      }
    }
    out.emplace_back(name, t);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    NORMA_CHECK(ranges[i].first >= ranges[i - 1].second, "load: ", path, ": tensors overlap in the data (bytes ",
                ranges[i].first, " and ", ranges[i - 1].second, ")");
  return out;
}

void save(const Module& module, const std::string& path, const Metadata& metadata) {
  save_safetensors(path, module.state_dict(), metadata);
}

void load(Module& module, const std::string& path, bool strict) {
  try {
    module.load_state_dict(load_safetensors(path), strict);
  } catch (const Error& e) {
    std::string msg = e.what();
    if (msg.rfind("load: ", 0) == 0) throw;
    throw Error("load: " + path + ": " + msg);
  }
}

}  // namespace norma::nn
