// The project's error helpers over the public hark::Error (include/hark/error.h): throw_error
// formats a message, HARK_CHECK throws when a condition fails.
#pragma once

#include <fmt/format.h>

#include <string>

#include "hark/error.h"

namespace hark {

// throw_error(kind, "fmt {}", args...): formats and throws.
template <typename... Args>
[[noreturn]] void throw_error(ErrorKind kind, fmt::format_string<Args...> f, Args&&... args) {
  throw Error(kind, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace hark

// HARK_CHECK(cond, kind, fmt, ...): throws hark::Error when cond is false.
#define HARK_CHECK(cond, kind, ...)                      \
  do {                                                   \
    if (!(cond)) ::hark::throw_error(kind, __VA_ARGS__); \
  } while (0)
