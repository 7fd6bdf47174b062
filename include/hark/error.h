// hark::Error: the one exception type of the project. Every failure a user can cause (bad model
// file, bad audio, bad option) is an Error with a category and a message that names the culprit
// and says what was expected. Callers at the edges (CLI, server) turn it into an exit code or an
// HTTP status by its kind; nothing below them aborts on bad input.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace hark {

enum class ErrorKind {
  kInvalidArgument,    // a bad option or parameter value
  kInvalidModel,       // a model file or directory that is malformed or inconsistent
  kInvalidAudio,       // audio that cannot be decoded or is empty
  kNotFound,           // a file or a named thing that does not exist
  kUnsupported,        // valid input that this build or machine cannot handle
  kIo,                 // the operating system refused (open, read, mmap)
  kResourceExhausted,  // out of memory (host or device), or a queue is full
  kCancelled,          // the caller withdrew the request (TranscribeOptions::cancelled)
  kInternal,           // a bug: an invariant of our own did not hold
};

// "invalid_argument", "invalid_audio", ...: stable names for logs and API error codes.
std::string_view to_string(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

}  // namespace hark
