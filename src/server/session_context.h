// What the HTTP sessions share (owned by the server): the routes, the state, the policies, and the
// registry through which a shutdown closes idle keep-alive connections.
#pragma once

#include <boost/asio/any_io_executor.hpp>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>

#include "server/auth.h"
#include "server/cors.h"
#include "server/router.h"
#include "server/server_state.h"
#include "server/url_fetch.h"

namespace hark::server {

struct SessionContext {
  SessionContext(ServerState& s, const Router& r, const ApiKeys& k, const Cors& c,
                 UrlFetchOptions f, boost::asio::any_io_executor b)
      : state(s), router(r), keys(k), cors(c), fetch(std::move(f)), blocking(std::move(b)) {}

  ServerState& state;
  const Router& router;
  const ApiKeys& keys;
  const Cors& cors;
  UrlFetchOptions fetch;
  boost::asio::any_io_executor blocking;  // for libcurl fetches

  // Live sessions: id -> "close if idle" action (posted to the session's strand).
  std::mutex sessions_m;
  std::map<uint64_t, std::function<void()>> sessions;
  std::atomic<uint64_t> next_session{1};
  std::atomic<int> live_sessions{0};
};

}  // namespace hark::server
