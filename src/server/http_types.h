// The server's own view of an HTTP exchange, independent of Beast: routes take a Request and
// return a Response (or Deferred work, see reply.h). Only http_session.cpp knows the wire.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hark::server {

// Case-insensitive header names, as HTTP defines them.
struct HeaderNameLess {
  bool operator()(std::string_view a, std::string_view b) const;
  using is_transparent = void;
};
using Headers = std::map<std::string, std::string, HeaderNameLess>;

struct Request {
  std::string method;                                      // "GET", "POST", ...
  std::string path;                                        // the target before '?', percent-decoded
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
  Headers headers;
  std::string body;
  std::string remote;  // peer address, for logs

  const std::string* header(std::string_view name) const;
  // The last value of a query parameter, if present.
  std::optional<std::string> query_param(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers

  static Response json(int status, std::string body);
  static Response text(int status, std::string body, std::string content_type);
};

}  // namespace hark::server
