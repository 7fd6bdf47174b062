#include "server/api_error.h"

#include <nlohmann/json.hpp>

namespace hark::server {
namespace {

nlohmann::json null_if_empty(const std::string& s) {
  return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
}

}  // namespace

ApiError bad_param(const std::string& param, const std::string& message, const std::string& code) {
  return ApiError(400, message, "invalid_request_error", param, code);
}

std::string error_body(const std::string& message, const std::string& type,
                       const std::string& param, const std::string& code) {
  const nlohmann::json body = {{"error",
                                {{"message", message},
                                 {"type", type},
                                 {"param", null_if_empty(param)},
                                 {"code", null_if_empty(code)}}}};
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Response error_response(const ApiError& e) {
  Response r = Response::json(e.status(), error_body(e.what(), e.type(), e.param(), e.code()));
  r.headers = e.headers;
  return r;
}

ApiError from_engine_error(const Error& e) {
  const std::string code(to_string(e.kind()));
  switch (e.kind()) {
    case ErrorKind::kInvalidArgument:
    case ErrorKind::kInvalidAudio:
    case ErrorKind::kUnsupported: return ApiError(400, e.what(), "invalid_request_error", {}, code);
    case ErrorKind::kNotFound: return ApiError(404, e.what(), "not_found_error", {}, code);
    case ErrorKind::kResourceExhausted: {
      ApiError out(503, e.what(), "server_error", {}, code);
      out.headers.emplace_back("Retry-After", "5");
      return out;
    }
    case ErrorKind::kCancelled: return ApiError(499, e.what(), "request_cancelled", {}, code);
    case ErrorKind::kInvalidModel:
    case ErrorKind::kIo:
    case ErrorKind::kInternal: break;
  }
  return ApiError(500, e.what(), "server_error", {}, code);
}

}  // namespace hark::server
