// CORS for browser clients: --cors-origin ORIGIN (repeatable; "*" for any). Without it no CORS
// header is sent and browsers keep to the same origin.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "server/http_types.h"

namespace hark::server {

class Cors {
 public:
  explicit Cors(std::vector<std::string> origins) : origins_(std::move(origins)) {}

  // The Access-Control-* headers for a response to this request (none when its Origin is not
  // allowed or CORS is off).
  std::vector<std::pair<std::string, std::string>> headers_for(const Request& request) const;
  // An OPTIONS request with Origin and Access-Control-Request-Method.
  static bool is_preflight(const Request& request);
  // 204 with the allowed methods and headers (403 for an origin not allowed).
  Response preflight(const Request& request) const;

 private:
  bool allowed(const std::string& origin) const;
  std::vector<std::string> origins_;
};

}  // namespace hark::server
