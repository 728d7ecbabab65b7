// norma::Error: the one exception type norma throws for bad input (shapes, arguments, files).
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace norma {

struct Error : std::runtime_error {
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace norma

// NORMA_CHECK(cond, "matmul: cannot multiply ", a, " by ", b): throws norma::Error with the
// streamed message when cond is false. Messages name the op first, then what was wrong.
#define NORMA_CHECK(cond, ...)                                     \
  do {                                                             \
    if (!(cond)) throw ::norma::Error(::norma::detail::concat(__VA_ARGS__)); \
  } while (0)
