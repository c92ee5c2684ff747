// tg::Error and TG_CHECK: the one way tapegrad reports misuse.
//
// Every public entry point validates its arguments with TG_CHECK, which throws
// tg::Error (a std::runtime_error) whose message names the op, the values
// involved and, for files, the path and byte offset. Kernels never throw; they
// assert in debug builds only.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace tg {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
template <class... Args>
[[noreturn]] void throw_error(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  throw Error(os.str());
}
}  // namespace detail

}  // namespace tg

// TG_CHECK(cond, "matmul: expected a 2-D tensor, got shape ", a.shape());
#define TG_CHECK(cond, ...)                                   \
  do {                                                        \
    if (!(cond)) [[unlikely]] ::tg::detail::throw_error(__VA_ARGS__); \
  } while (0)
