#include "server/url_fetch.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>

#include "server/api_error.h"

namespace hark::server {
namespace {

bool public_v4(uint32_t a) {  // host byte order
  const auto in = [a](uint32_t net, int bits) {
    return bits == 0 || (a >> (32 - bits)) == (net >> (32 - bits));
  };
  return !(in(0x00000000, 8) ||   // 0.0.0.0/8 "this network"
           in(0x0A000000, 8) ||   // 10/8 private
           in(0x64400000, 10) ||  // 100.64/10 CGNAT
           in(0x7F000000, 8) ||   // 127/8 loopback
           in(0xA9FE0000, 16) ||  // 169.254/16 link-local (cloud metadata)
           in(0xAC100000, 12) ||  // 172.16/12 private
           in(0xC0000000, 24) ||  // 192.0.0/24 IETF protocol assignments
           in(0xC0000200, 24) ||  // 192.0.2/24 documentation
           in(0xC0A80000, 16) ||  // 192.168/16 private
           in(0xC6120000, 15) ||  // 198.18/15 benchmarking
           in(0xC6336400, 24) ||  // 198.51.100/24 documentation
           in(0xCB007100, 24) ||  // 203.0.113/24 documentation
           in(0xE0000000, 4) ||   // 224/4 multicast
           in(0xF0000000, 4));    // 240/4 reserved, broadcast
}

bool public_v6(const in6_addr& a) {
  const uint8_t* b = a.s6_addr;
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static const uint8_t kNat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  if (std::memcmp(b, kMapped, 12) == 0 || std::memcmp(b, kNat64, 12) == 0) {
    return public_v4(uint32_t(b[12]) << 24 | uint32_t(b[13]) << 16 | uint32_t(b[14]) << 8 | b[15]);
  }
  bool zero_prefix = true;  // ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d
  for (int i = 0; i < 12; ++i) zero_prefix &= b[i] == 0;
  if (zero_prefix) return false;
  if ((b[0] & 0xfe) == 0xfc) return false;                  // fc00::/7 unique local
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return false;  // fe80::/10 link-local
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return false;  // fec0::/10 site-local
  if (b[0] == 0xff) return false;                           // multicast
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return false;  // doc
  return true;
}

std::string address_text(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (sa->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof(buf));
  } else if (sa->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof(buf));
  }
  return buf;
}

ApiError refused(const std::string& message) {
  return ApiError(400, message, "invalid_request_error", "url", "url_not_allowed");
}
ApiError failed(const std::string& message) {
  return ApiError(400, message, "invalid_request_error", "url", "url_fetch_failed");
}

struct Target {
  std::string scheme, host, port;
};

Target parse_url(const std::string& url) {
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> u(curl_url(), curl_url_cleanup);
  if (url.size() > 8192 || curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
    throw failed(fmt::format("'{}' is not a valid absolute URL", url.substr(0, 200)));
  }
  const auto part = [&](CURLUPart p, unsigned flags) {
    char* s = nullptr;
    std::string out;
    if (curl_url_get(u.get(), p, &s, flags) == CURLUE_OK && s) out = s;
    curl_free(s);
    return out;
  };
  Target t{part(CURLUPART_SCHEME, 0), part(CURLUPART_HOST, 0),
           part(CURLUPART_PORT, CURLU_DEFAULT_PORT)};
  if (t.scheme != "http" && t.scheme != "https") {
    throw refused(fmt::format("only http and https URLs can be fetched, not '{}'", t.scheme));
  }
  if (t.host.size() > 2 && t.host.front() == '[') t.host = t.host.substr(1, t.host.size() - 2);
  if (t.host.empty()) throw failed("the URL has no host");
  return t;
}

struct Pinned {
  sockaddr_storage address{};
  socklen_t length = 0;
  std::string text;
};

// Resolves host; every address must pass the check. Returns the first.
Pinned resolve_checked(const Target& t, const UrlFetchOptions& o) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = getaddrinfo(t.host.c_str(), t.port.c_str(), &hints, &res);
  if (rc != 0) throw failed(fmt::format("cannot resolve '{}': {}", t.host, gai_strerror(rc)));
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(res, freeaddrinfo);
  Pinned pinned;
  for (const addrinfo* ai = res; ai; ai = ai->ai_next) {
    const bool ok = o.address_allowed ? o.address_allowed(ai->ai_addr)
                                      : (o.allow_private || is_public_address(ai->ai_addr));
    if (!ok) {
      throw refused(fmt::format(
          "'{}' resolves to {}, a private, loopback or link-local address; this server does not "
          "fetch from those (see --allow-private-urls)",
          t.host, address_text(ai->ai_addr)));
    }
    if (pinned.length == 0) {
      std::memcpy(&pinned.address, ai->ai_addr, ai->ai_addrlen);
      pinned.length = socklen_t(ai->ai_addrlen);
      pinned.text = address_text(ai->ai_addr);
    }
  }
  if (pinned.length == 0) throw failed(fmt::format("'{}' has no address", t.host));
  return pinned;
}

struct Transfer {
  std::string body;
  size_t max_bytes = 0;
  bool too_large = false;
  const Pinned* pinned = nullptr;
  bool wrong_address = false;
};

size_t on_data(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  if (t->body.size() + size * n > t->max_bytes) {
    t->too_large = true;
    return 0;  // aborts the transfer
  }
  t->body.append(data, size * n);
  return size * n;
}

// The last line of defence: the socket curl opens must go to the address we checked.
curl_socket_t on_open_socket(void* user, curlsocktype, curl_sockaddr* a) {
  auto* t = static_cast<Transfer*>(user);
  if (address_text(&a->addr) != t->pinned->text) {
    t->wrong_address = true;
    return CURL_SOCKET_BAD;
  }
  return socket(a->family, a->socktype, a->protocol);
}

void ensure_curl_initialised() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// One hop. Returns the redirect target, or "" when the body is in `t`.
std::string fetch_once(const std::string& url, const UrlFetchOptions& o, double seconds_left,
                       Transfer& t) {
  const Target target = parse_url(url);
  const Pinned pinned = resolve_checked(target, o);
  t.pinned = &pinned;
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) throw ApiError(500, "libcurl could not start a transfer", "server_error");
  const std::string host_entry =
      target.host.find(':') != std::string::npos ? "[" + target.host + "]" : target.host;
  const std::string pin =
      fmt::format("{}:{}:{}", host_entry, target.port,
                  pinned.address.ss_family == AF_INET6 ? "[" + pinned.text + "]" : pinned.text);
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> resolve(
      curl_slist_append(nullptr, pin.c_str()), curl_slist_free_all);
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_RESOLVE, resolve.get());
  curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
  curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &t);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");  // a proxy would connect where we did not check
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, long(seconds_left * 1000));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, long(std::min(seconds_left, 10.0) * 1000));
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(o.max_bytes));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "hark/0.1 (+/transcribe/url)");
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  const CURLcode rc = curl_easy_perform(c);
  if (t.wrong_address) throw refused("the connection went to an address that was not checked");
  if (t.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
    throw ApiError(413, fmt::format("the audio at the URL is larger than {} bytes", o.max_bytes),
                   "invalid_request_error", "url", "url_too_large");
  }
  if (rc == CURLE_OPERATION_TIMEDOUT) {
    throw ApiError(400, fmt::format("fetching the URL took longer than {} s", o.timeout_s),
                   "invalid_request_error", "url", "url_fetch_timeout");
  }
  if (rc != CURLE_OK) {
    throw failed(fmt::format("fetching {} failed: {}", url.substr(0, 200),
                             errbuf[0] ? errbuf : curl_easy_strerror(rc)));
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 300 && status < 400) {
    char* location = nullptr;
    curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &location);
    if (!location) throw failed(fmt::format("HTTP {} without a Location from the URL", status));
    t.body.clear();
    return location;
  }
  if (status >= 400 || status < 200) {
    throw failed(fmt::format("the URL answered HTTP {}", status));
  }
  return {};
}

}  // namespace

bool is_public_address(const sockaddr* address) {
  if (address->sa_family == AF_INET) {
    return public_v4(ntohl(reinterpret_cast<const sockaddr_in*>(address)->sin_addr.s_addr));
  }
  if (address->sa_family == AF_INET6) {
    return public_v6(reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr);
  }
  return false;
}

FetchedAudio fetch_url(const std::string& url, const UrlFetchOptions& options) {
  ensure_curl_initialised();
  const auto start = std::chrono::steady_clock::now();
  std::string current = url;
  for (int hop = 0; hop <= options.max_redirects; ++hop) {
    const double left =
        options.timeout_s -
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (left <= 0) {
      throw ApiError(400, fmt::format("fetching the URL took longer than {} s", options.timeout_s),
                     "invalid_request_error", "url", "url_fetch_timeout");
    }
    Transfer t;
    t.max_bytes = options.max_bytes;
    const std::string next = fetch_once(current, options, left, t);
    if (next.empty()) {
      FetchedAudio out;
      out.bytes = std::move(t.body);
      out.final_url = current;
      const size_t slash = current.find_last_of('/');
      out.name = slash == std::string::npos ? current : current.substr(slash + 1);
      if (out.name.empty()) out.name = "url";
      if (out.bytes.empty()) throw failed("the URL returned no data");
      return out;
    }
    current = next;
  }
  throw failed(fmt::format("more than {} redirects", options.max_redirects));
}

}  // namespace hark::server
