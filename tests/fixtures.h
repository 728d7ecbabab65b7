// PyTorch fixtures: tensors computed by Debian's python3-torch, stored as JSON next to the
// script that generated them (tests/fixtures/gen_*.py). Format of tests/fixtures/<file>.json:
//   { "<case>": { "<tensor name>": {"shape": [2, 3], "values": [...]}, ... }, ... }
// Scalars (options such as stride) may be stored as plain JSON numbers in the same object.
#pragma once
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/norma.h"

namespace norma::testing {

// $NORMA_TEST_FIXTURES, else the source tree's tests/fixtures (compiled in by CMake).
inline std::string fixture_dir() {
  const char* env = std::getenv("NORMA_TEST_FIXTURES");
  if (env) return env;
#ifdef NORMA_TEST_FIXTURES_DIR
  return NORMA_TEST_FIXTURES_DIR;
#else
  return "tests/fixtures";
#endif
}

// The whole JSON of tests/fixtures/<file>.json (cached per file).
inline const nlohmann::json& fixture_file(const std::string& file) {
  static std::map<std::string, nlohmann::json> cache;
  auto it = cache.find(file);
  if (it != cache.end()) return it->second;
  std::string path = fixture_dir() + "/" + file + ".json";
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot open fixture file " << path);
  return cache[file] = nlohmann::json::parse(in);
}

// Tensor `name` of case `kase` in fixture file `file`.
inline Tensor fixture_tensor(const std::string& file, const std::string& kase, const std::string& name) {
  const nlohmann::json& j = fixture_file(file).at(kase).at(name);
  Shape shape = j.at("shape").get<Shape>();
  std::vector<float> values = j.at("values").get<std::vector<float>>();
  return from_vector(values, shape);
}

}  // namespace norma::testing
