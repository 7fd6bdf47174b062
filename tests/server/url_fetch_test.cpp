// The SSRF guard and the libcurl fetcher of /transcribe/url, against a local HTTP server. The
// address policy is overridden (address_allowed) where a test needs loopback to be reachable, so
// that a redirect to another loopback address shows the per-hop check.
#include "server/url_fetch.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include "server/api_error.h"
#include "server/server_harness.h"

namespace hark::server {
namespace {

bool is_public(const std::string& ip) {
  sockaddr_storage ss{};
  if (ip.find(':') != std::string::npos) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    EXPECT_EQ(inet_pton(AF_INET6, ip.c_str(), &a->sin6_addr), 1) << ip;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    EXPECT_EQ(inet_pton(AF_INET, ip.c_str(), &a->sin_addr), 1) << ip;
  }
  return is_public_address(reinterpret_cast<const sockaddr*>(&ss));
}

TEST(AddressPolicy, RefusesPrivateLoopbackLinkLocalAndReserved) {
  for (const char* ip : {"127.0.0.1",
                         "127.1.2.3",
                         "10.0.0.1",
                         "172.16.0.1",
                         "172.31.255.255",
                         "192.168.1.1",
                         "169.254.169.254",
                         "100.64.0.1",
                         "0.0.0.0",
                         "224.0.0.1",
                         "255.255.255.255",
                         "192.0.2.1",
                         "198.18.0.1",
                         "::1",
                         "::",
                         "fe80::1",
                         "fc00::1",
                         "fd12:3456::1",
                         "ff02::1",
                         "::ffff:127.0.0.1",
                         "::ffff:10.1.2.3",
                         "::ffff:169.254.169.254",
                         "64:ff9b::a9fe:a9fe",
                         "2001:db8::1"}) {
    EXPECT_FALSE(is_public(ip)) << ip;
  }
}

TEST(AddressPolicy, AllowsPublicAddresses) {
  for (const char* ip : {"8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "193.0.0.1",
                         "2606:4700::1111", "::ffff:8.8.8.8", "2a00:1450::1"}) {
    EXPECT_TRUE(is_public(ip)) << ip;
  }
}

ApiError fetch_error(const std::string& url, const UrlFetchOptions& o) {
  try {
    fetch_url(url, o);
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "fetched " << url;
  return ApiError(0, "");
}

TEST(UrlFetch, RefusesLoopbackByDefaultBeforeConnecting) {
  testing::TinyHttpServer http({{"/a.wav", {200, "", "RIFF"}}});
  UrlFetchOptions o;
  for (const std::string& url :
       {http.url("/a.wav"), "http://localhost:" + std::to_string(http.port()) + "/a.wav",
        "http://[::1]:" + std::to_string(http.port()) + "/a.wav",
        std::string("http://169.254.169.254/latest/meta-data/"), std::string("http://10.0.0.1/")}) {
    const ApiError e = fetch_error(url, o);
    EXPECT_EQ(e.status(), 400) << url;
    EXPECT_EQ(e.code(), "url_not_allowed") << url << ": " << e.what();
  }
  EXPECT_EQ(http.requests(), 0);  // refused before any connection
}

TEST(UrlFetch, RefusesOtherSchemes) {
  UrlFetchOptions o;
  o.allow_private = true;
  for (const char* url : {"ftp://127.0.0.1/a.wav", "file:///etc/passwd", "gopher://x/"}) {
    EXPECT_EQ(fetch_error(url, o).code(), "url_not_allowed") << url;
  }
  EXPECT_EQ(fetch_error("not a url", o).code(), "url_fetch_failed");
}

TEST(UrlFetch, FetchesFollowsRedirectsAndRechecksEachHop) {
  testing::TinyHttpServer http({});
  const std::string port = std::to_string(http.port());
  testing::TinyHttpServer::Reply audio{200, "", std::string(1000, 'x')};
  testing::TinyHttpServer target(
      {{"/a.wav", audio},
       {"/hop", {302, "Location: /a.wav\r\n", ""}},
       {"/evil", {302, "Location: http://127.0.0.2:" + port + "/a.wav\r\n", ""}},
       {"/missing", {404, "", "no"}},
       {"/big", {200, "", std::string(5000, 'y')}}});
  UrlFetchOptions o;
  // Only 127.0.0.1 is allowed: stands in for "public" here.
  o.address_allowed = [](const sockaddr* a) {
    return a->sa_family == AF_INET &&
           reinterpret_cast<const sockaddr_in*>(a)->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
  };
  o.max_bytes = 2000;
  const FetchedAudio direct = fetch_url(target.url("/a.wav"), o);
  EXPECT_EQ(direct.bytes, audio.body);
  EXPECT_EQ(direct.name, "a.wav");
  const FetchedAudio redirected = fetch_url(target.url("/hop"), o);
  EXPECT_EQ(redirected.bytes, audio.body);
  EXPECT_EQ(redirected.final_url, target.url("/a.wav"));
  const ApiError evil = fetch_error(target.url("/evil"), o);
  EXPECT_EQ(evil.code(), "url_not_allowed") << evil.what();
  EXPECT_NE(std::string(evil.what()).find("127.0.0.2"), std::string::npos) << evil.what();
  EXPECT_EQ(fetch_error(target.url("/missing"), o).code(), "url_fetch_failed");
  const ApiError big = fetch_error(target.url("/big"), o);
  EXPECT_EQ(big.status(), 413);
  EXPECT_EQ(big.code(), "url_too_large");
}

}  // namespace
}  // namespace hark::server
