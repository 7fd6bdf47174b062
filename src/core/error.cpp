#include "core/error.h"

namespace hark {

std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidArgument: return "invalid_argument";
    case ErrorKind::kInvalidModel: return "invalid_model";
    case ErrorKind::kInvalidAudio: return "invalid_audio";
    case ErrorKind::kNotFound: return "not_found";
    case ErrorKind::kUnsupported: return "unsupported";
    case ErrorKind::kIo: return "io_error";
    case ErrorKind::kResourceExhausted: return "resource_exhausted";
    case ErrorKind::kCancelled: return "cancelled";
    case ErrorKind::kInternal: return "internal_error";
  }
  return "unknown";
}

}  // namespace hark
