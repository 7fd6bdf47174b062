// hark::Error: the one exception type of the project. Every failure a user can cause (bad model
// file, bad audio, bad option) is an Error with a category and a message that names the culprit
// and says what was expected. Callers at the edges (CLI, server) turn it into an exit code or an
// HTTP status by its kind; nothing below them aborts on bad input.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace hark {

enum class ErrorKind {
  kInvalidArgument,  // a bad option or parameter value
  kInvalidModel,     // a model file or directory that is malformed or inconsistent
  kInvalidAudio,     // audio that cannot be decoded or is empty
  kNotFound,         // a file or a named thing that does not exist
  kUnsupported,      // valid input that this build cannot handle (yet)
  kIo,               // the operating system refused (open, read, mmap)
  kResourceExhausted,
  kCancelled,
  kInternal,  // a bug: an invariant of our own did not hold
};

std::string_view to_string(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

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
