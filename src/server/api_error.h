// Every failure a client sees is an OpenAI-shaped JSON body,
//   {"error": {"message": "...", "type": "...", "param": "..." | null, "code": "..." | null}}
// with a status that says whose fault it is. Routes throw ApiError (or hark::Error, mapped here by
// its kind); the session turns either into a Response, so no input can take the process down.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "hark/error.h"
#include "server/http_types.h"

namespace hark::server {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string type = "invalid_request_error",
           std::string param = {}, std::string code = {})
      : std::runtime_error(message),
        status_(status),
        type_(std::move(type)),
        param_(std::move(param)),
        code_(std::move(code)) {}

  int status() const { return status_; }
  const std::string& type() const { return type_; }
  const std::string& param() const { return param_; }
  const std::string& code() const { return code_; }
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. Retry-After

 private:
  int status_;
  std::string type_, param_, code_;
};

// A 400 invalid_request_error naming the parameter.
ApiError bad_param(const std::string& param, const std::string& message,
                   const std::string& code = "invalid_value");

// The OpenAI error body (param and code become null when empty).
std::string error_body(const std::string& message, const std::string& type,
                       const std::string& param, const std::string& code);
Response error_response(const ApiError& e);
// hark::Error by kind: invalid argument/audio and unsupported 400, not found 404, resource
// exhausted 503 (with Retry-After), cancelled 499, others 500.
ApiError from_engine_error(const Error& e);

}  // namespace hark::server
