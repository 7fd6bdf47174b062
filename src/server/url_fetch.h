// Fetching audio for POST /transcribe/url with libcurl, guarded against server-side request
// forgery: only http and https; the host is resolved here and every address it resolves to must
// be public (no private, loopback, link-local, CGNAT, multicast or reserved ranges, IPv4-mapped
// IPv6 included) unless private addresses are allowed; curl then connects to exactly the checked
// address (CURLOPT_RESOLVE pinning, verified again in CURLOPT_OPENSOCKETFUNCTION), and redirects
// are followed here, one hop at a time, each checked the same way. Size and time are bounded.
// Blocking: run it off the I/O threads.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include <sys/socket.h>

namespace hark::server {

// False for addresses a request must not make this server connect to (see above).
bool is_public_address(const sockaddr* address);

struct UrlFetchOptions {
  size_t max_bytes = 25u << 20;
  double timeout_s = 60;  // for the whole fetch, redirects included
  int max_redirects = 5;
  bool allow_private = false;
  // Overrides the address check when set (tests): true lets the address through.
  std::function<bool(const sockaddr*)> address_allowed;
};

struct FetchedAudio {
  std::string bytes;
  std::string final_url;
  std::string name;  // the last path component, for messages
};

// Throws ApiError: 400 url_not_allowed (scheme, address), 400 url_fetch_failed (DNS, connect,
// HTTP status >= 400, too many redirects), 400 url_fetch_timeout, 413 url_too_large.
FetchedAudio fetch_url(const std::string& url, const UrlFetchOptions& options);

}  // namespace hark::server
