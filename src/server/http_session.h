// One HTTP/1.1 connection (Boost.Beast over Asio, a C++20 coroutine): keep-alive, header and body
// limits, 100-continue, routing, authentication and CORS before the body is read, and the
// Deferred work of transcription routes: submission to the inference pool, waiting without
// blocking the I/O thread, cancellation when the client disconnects, server-sent events.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "server/session_context.h"

namespace hark::server {

boost::asio::awaitable<void> run_session(boost::asio::ip::tcp::socket socket, SessionContext& ctx);

}  // namespace hark::server
