// Design: one coroutine per connection, on its own strand. Each request is read in two steps,
// header then body, so that unknown routes, missing API keys and oversized uploads are refused
// before a byte of the body is read. Routes are plain functions (router.h); what they defer
// (fetch, transcription) runs off the I/O threads and is awaited here. While a job runs the
// session waits for either the job's signal (a timer the worker expires through a post to this
// strand) or the client's socket to become readable: end of stream or a reset there means the
// client went away, and the job is cancelled.
#include "server/http_session.h"

#include <sys/socket.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <optional>

#include "server/api_error.h"

namespace hark::server {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using namespace net::experimental::awaitable_operators;

constexpr auto kIdleTimeout = std::chrono::seconds(75);   // keep-alive between requests
constexpr auto kBodyTimeout = std::chrono::seconds(300);  // reading one request body
constexpr auto kWriteTimeout = std::chrono::seconds(60);
constexpr size_t kHeaderLimit = 32 * 1024;
constexpr size_t kSmallBodyLimit = 1 << 20;    // routes without uploads
constexpr size_t kMultipartSlack = 64 * 1024;  // field parts and delimiters around the file
constexpr auto kTuple = net::as_tuple(net::use_awaitable);

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX decoding; a malformed escape is kept as it is.
std::string percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() + 0 && hex_value(s[i + 1]) >= 0 &&
        hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else if (s[i] == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

void split_target(std::string_view target, Request& r) {
  const size_t q = target.find('?');
  r.path = percent_decode(target.substr(0, q), false);
  if (q == std::string_view::npos) return;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    if (!item.empty()) {
      const size_t eq = item.find('=');
      r.query.emplace_back(
          percent_decode(item.substr(0, eq), true),
          eq == std::string_view::npos ? std::string() : percent_decode(item.substr(eq + 1), true));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
}

bool is_http_parse_error(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

ApiError job_error(const Job& job, const ServerOptions& o) {
  if (job.error_kind() == ErrorKind::kCancelled) {
    switch (job.cancelled_by()) {
      case CancelReason::kDeadline:
        return ApiError(504,
                        fmt::format("the request did not finish within {} s (--request-timeout)",
                                    o.request_timeout_s),
                        "server_error", {}, "timeout");
      case CancelReason::kShutdown: {
        ApiError e(503, "the server is shutting down", "server_error", {}, "shutting_down");
        e.headers.emplace_back("Retry-After", "5");
        return e;
      }
      default: break;
    }
  }
  return from_engine_error(Error(job.error_kind(), job.error_message()));
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, SessionContext& ctx) : stream_(std::move(socket)), ctx_(ctx) {
    beast::error_code ec;
    const auto peer = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = fmt::format("{}:{}", peer.address().to_string(), peer.port());
  }

  net::awaitable<void> run();
  // Closes the connection if it is between requests (shutdown). Runs on the session's strand.
  void close_if_idle() {
    if (!idle_) return;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

 private:
  net::awaitable<bool> serve_one();
  net::awaitable<bool> dispatch(const Route& route, Request& request, bool keep_alive);
  net::awaitable<bool> run_deferred(Deferred d, const Request& request, bool keep_alive);
  net::awaitable<bool> respond(Response r, const Request& request, bool keep_alive);
  net::awaitable<bool> respond_error(const ApiError& e, const Request& request, bool keep_alive) {
    error_type_ = e.type();
    co_return co_await respond(error_response(e), request, keep_alive);
  }
  net::awaitable<std::optional<ApiError>> fetch_audio(const std::string& url, Job& job);
  net::awaitable<bool> write_sse_head(const Request& request);
  net::awaitable<bool> write_chunk(const std::string& data);
  net::awaitable<void> watch_disconnect();
  void log(const Request& request, int status);

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  SessionContext& ctx_;
  std::string remote_;
  bool idle_ = true;
  std::string route_name_;
  std::string error_type_;
  Clock::time_point started_;
};

net::awaitable<void> Session::run() {
  try {
    while (co_await serve_one()) {
    }
  } catch (const std::exception& e) {
    spdlog::error("connection {}: {}", remote_, e.what());
  }
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream_.socket().close(ec);
}

net::awaitable<bool> Session::serve_one() {
  http::request_parser<http::string_body> parser;
  parser.header_limit(kHeaderLimit);
  parser.body_limit(
      std::max(kSmallBodyLimit, ctx_.state.options.max_upload_bytes + kMultipartSlack));
  idle_ = true;
  if (ctx_.state.draining) co_return false;
  stream_.expires_after(kIdleTimeout);
  auto [ec, n] = co_await http::async_read_header(stream_, buffer_, parser, kTuple);
  idle_ = false;
  started_ = Clock::now();
  route_name_ = "unmatched";
  error_type_.clear();
  Request req;
  req.remote = remote_;
  if (!parser.get().method_string().empty()) {  // also when the body is known to be too large
    req.method = std::string(parser.get().method_string());
    split_target(parser.get().target(), req);
    if (const Router::Match m = ctx_.router.find(req.method, req.path); m.route) {
      route_name_ = m.route->path;
    }
  }
  if (ec == http::error::header_limit) {
    co_return co_await respond_error(ApiError(431, "request headers too large"), req, false);
  }
  if (ec == http::error::body_limit) {
    co_return co_await respond_error(
        ApiError(413, "the upload is larger than the server's limit (--max-upload-mb)",
                 "invalid_request_error", "file", "upload_too_large"),
        req, false);
  }
  if (ec) {
    if (is_http_parse_error(ec)) {
      co_await respond_error(ApiError(400, "malformed HTTP request: " + ec.message()), req, false);
    }
    co_return false;
  }
  auto& h = parser.get();
  for (const auto& field : h) req.headers.emplace(field.name_string(), field.value());
  const bool has_body = parser.content_length().value_or(0) > 0 || parser.chunked();
  // A refusal before the body leaves unread bytes on the connection: close it afterwards.
  const bool keep_alive = h.keep_alive() && !ctx_.state.draining;
  const bool keep_after_refusal = keep_alive && !has_body;
  if (Cors::is_preflight(req)) {
    route_name_ = "preflight";
    co_return co_await respond(ctx_.cors.preflight(req), req, keep_after_refusal);
  }
  const Router::Match match = ctx_.router.find(req.method, req.path);
  if (!match.route) {
    ApiError e =
        match.status == 405
            ? ApiError(405, fmt::format("{} is not allowed on {}; use {}", req.method,
                                        req.path.substr(0, 200), match.allow))
            : ApiError(404, fmt::format("no route {} {}", req.method, req.path.substr(0, 200)),
                       "invalid_request_error", {}, "unknown_url");
    if (match.status == 405) e.headers.emplace_back("Allow", match.allow);
    co_return co_await respond_error(e, req, keep_after_refusal);
  }
  const Route& route = *match.route;
  route_name_ = route.path;
  if (route.requires_key && !ctx_.keys.allows(req)) {
    ApiError e(401,
               "Incorrect API key provided: send it as 'Authorization: Bearer KEY' or "
               "'X-API-Key: KEY'",
               "invalid_request_error", {}, "invalid_api_key");
    e.headers.emplace_back("WWW-Authenticate", "Bearer");
    co_return co_await respond_error(e, req, keep_after_refusal);
  }
  const size_t limit =
      route.takes_upload ? ctx_.state.options.max_upload_bytes + kMultipartSlack : kSmallBodyLimit;
  if (parser.content_length().value_or(0) > limit) {
    co_return co_await respond_error(
        ApiError(413,
                 fmt::format("the request body ({} bytes) is larger than this route's limit of "
                             "{} bytes (--max-upload-mb)",
                             *parser.content_length(), limit),
                 "invalid_request_error", route.takes_upload ? "file" : "", "upload_too_large"),
        req, false);
  }
  parser.body_limit(limit);
  if (const auto it = h.find(http::field::expect);
      it != h.end() && beast::iequals(it->value(), "100-continue")) {
    http::response<http::empty_body> cont{http::status::continue_, 11};
    stream_.expires_after(kWriteTimeout);
    auto [wec, wn] = co_await http::async_write(stream_, cont, kTuple);
    if (wec) co_return false;
  }
  stream_.expires_after(kBodyTimeout);
  auto [bec, bn] = co_await http::async_read(stream_, buffer_, parser, kTuple);
  stream_.expires_never();
  if (bec == http::error::body_limit) {
    co_return co_await respond_error(
        ApiError(413,
                 fmt::format("the request body is larger than {} bytes (--max-upload-mb)", limit),
                 "invalid_request_error", route.takes_upload ? "file" : "", "upload_too_large"),
        req, false);
  }
  if (bec) co_return false;
  req.body = std::move(parser.get().body());
  co_return co_await dispatch(route, req, keep_alive);
}

net::awaitable<bool> Session::dispatch(const Route& route, Request& req, bool keep_alive) {
  Reply reply;
  std::optional<ApiError> failure;  // (no co_await inside a handler)
  try {
    reply = route.handler(req);
  } catch (const ApiError& e) {
    failure = e;
  } catch (const Error& e) {
    failure = from_engine_error(e);
  } catch (const std::exception& e) {
    spdlog::error("{} {}: {}", req.method, req.path, e.what());
    failure = ApiError(500, std::string("internal error: ") + e.what(), "server_error");
  }
  if (failure) co_return co_await respond_error(*failure, req, keep_alive);
  if (auto* response = std::get_if<Response>(&reply)) {
    co_return co_await respond(std::move(*response), req, keep_alive);
  }
  co_return co_await run_deferred(std::move(std::get<Deferred>(reply)), req, keep_alive);
}

// Runs the (blocking) libcurl fetch on the blocking pool. No exception crosses the co_await
// (GCC 12 destroys the awaited temporaries twice when one does): failures come back as values.
net::awaitable<std::optional<ApiError>> Session::fetch_audio(const std::string& url, Job& job) {
  struct Outcome {
    FetchedAudio audio;
    std::optional<ApiError> error;
  };
  auto task = [url, options = ctx_.fetch]() -> net::awaitable<Outcome> {
    Outcome out;
    try {
      out.audio = fetch_url(url, options);
    } catch (const ApiError& e) {
      out.error = e;
    } catch (const std::exception& e) {
      out.error =
          ApiError(500, std::string("fetching the URL failed: ") + e.what(), "server_error");
    }
    co_return out;
  };
  Outcome outcome = co_await net::co_spawn(ctx_.blocking, std::move(task), net::use_awaitable);
  if (outcome.error) co_return outcome.error;
  job.audio_storage = std::move(outcome.audio.bytes);
  job.audio = job.audio_storage;
  job.audio_name = outcome.audio.name;
  co_return std::nullopt;
}

net::awaitable<bool> Session::run_deferred(Deferred d, const Request& req, bool keep_alive) {
  ServerState& st = ctx_.state;
  if (st.pool.state() != InferencePool::State::kReady) {
    ApiError e(503,
               st.pool.state() == InferencePool::State::kLoading
                   ? "the model is still loading; retry shortly"
                   : "the server is not serving transcriptions (shutting down or failed to load)",
               "server_error", {}, "model_not_ready");
    e.headers.emplace_back("Retry-After", "1");
    co_return co_await respond_error(e, req, keep_alive);
  }
  Job& job = *d.job;
  if (!d.fetch_url.empty()) {
    const std::optional<ApiError> failure = co_await fetch_audio(d.fetch_url, job);
    if (failure) co_return co_await respond_error(*failure, req, keep_alive);
  }
  const auto executor = co_await net::this_coro::executor;
  // The signal is level-triggered: the worker's post sets the timer's expiry into the past, so a
  // wait started after the post completes at once (a cancel() would be lost if it ran before the
  // wait began, and the || below starts its wait through a post of its own). The session re-arms
  // the timer before each look at the job.
  auto signal = std::make_shared<net::steady_timer>(executor, net::steady_timer::time_point::max());
  job.notifier = [weak = std::weak_ptr<net::steady_timer>(signal), executor] {
    net::post(executor, [weak] {
      if (auto s = weak.lock()) s->expires_at(net::steady_timer::time_point());
    });
  };
  if (!st.pool.submit(d.job)) {
    st.metrics.count_rejected();
    ApiError e(503, "the server is at capacity (every queue is full); retry later", "server_error",
               {}, "queue_full");
    e.headers.emplace_back("Retry-After", "2");
    co_return co_await respond_error(e, req, keep_alive);
  }
  const bool sse = bool(d.sse_delta);
  if (sse && !co_await write_sse_head(req)) {
    job.cancel(CancelReason::kClientGone);
    co_return false;
  }
  bool first = true;
  for (;;) {
    signal->expires_at(net::steady_timer::time_point::max());
    Job::Update update = job.take();
    for (const Segment& s : update.segments) {
      if (!sse) continue;
      if (!co_await write_chunk("data: " + d.sse_delta(s, first) + "\n\n")) {
        job.cancel(CancelReason::kClientGone);
        co_return false;
      }
      first = false;
    }
    if (update.done) break;
    auto which = co_await ([](net::steady_timer& t) -> net::awaitable<void> {
      co_await t.async_wait(kTuple);
    }(*signal) || watch_disconnect());
    if (which.index() == 1) {
      job.cancel(CancelReason::kClientGone);
      spdlog::info("{} {} from {}: the client went away; its transcription is cancelled",
                   req.method, req.path, remote_);
      co_return false;
    }
  }
  if (!job.result()) {
    const ApiError e = job_error(job, st.options);
    if (!sse) co_return co_await respond_error(e, req, keep_alive);
    error_type_ = e.type();
    const bool ok =
        co_await write_chunk("event: error\ndata: " +
                             error_body(e.what(), e.type(), e.param(), e.code()) + "\n\n") &&
        co_await write_chunk("");
    log(req, e.status());
    co_return ok&& keep_alive;
  }
  if (sse) {
    const bool ok =
        co_await write_chunk("data: " + d.sse_done(job) + "\n\n") && co_await write_chunk("");
    log(req, 200);
    co_return ok&& keep_alive;
  }
  Response r;
  std::optional<ApiError> failure;
  try {
    r = d.render(job);
  } catch (const std::exception& e) {
    failure =
        ApiError(500, std::string("formatting the result failed: ") + e.what(), "server_error");
  }
  if (failure) co_return co_await respond_error(*failure, req, keep_alive);
  co_return co_await respond(std::move(r), req, keep_alive);
}

net::awaitable<void> Session::watch_disconnect() {
  auto& socket = stream_.socket();
  for (;;) {
    auto [ec] = co_await socket.async_wait(tcp::socket::wait_read, kTuple);
    if (ec == net::error::operation_aborted) {
      // Cancelled because the job finished first: park until the operator completes.
      co_return;
    }
    if (ec) co_return;  // the socket failed: the client is gone
    char byte;
    const ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) co_return;  // orderly end of stream
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) co_return;
    if (n > 0) {
      // The client sent more (a pipelined request): it is alive; stop watching.
      net::steady_timer forever(co_await net::this_coro::executor,
                                net::steady_timer::time_point::max());
      co_await forever.async_wait(kTuple);
      co_return;
    }
  }
}

net::awaitable<bool> Session::write_sse_head(const Request& req) {
  http::response<http::empty_body> res{http::status::ok, 11};
  res.set(http::field::server, "hark/0.1");
  res.set(http::field::content_type, "text/event-stream");
  res.set(http::field::cache_control, "no-cache");
  for (const auto& [k, v] : ctx_.cors.headers_for(req)) res.set(k, v);
  res.chunked(true);
  http::response_serializer<http::empty_body> sr{res};
  stream_.expires_after(kWriteTimeout);
  auto [ec, n] = co_await http::async_write_header(stream_, sr, kTuple);
  stream_.expires_never();
  co_return !ec;
}

// One chunk of a chunked response; "" writes the last chunk.
net::awaitable<bool> Session::write_chunk(const std::string& data) {
  stream_.expires_after(kWriteTimeout);
  beast::error_code ec;
  if (data.empty()) {
    std::tie(ec, std::ignore) = co_await net::async_write(stream_, http::make_chunk_last(), kTuple);
  } else {
    std::tie(ec, std::ignore) =
        co_await net::async_write(stream_, http::make_chunk(net::buffer(data)), kTuple);
  }
  stream_.expires_never();
  co_return !ec;
}

net::awaitable<bool> Session::respond(Response r, const Request& req, bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), 11};
  res.set(http::field::server, "hark/0.1");
  if (!r.content_type.empty()) res.set(http::field::content_type, r.content_type);
  for (const auto& [k, v] : r.headers) res.set(k, v);
  for (const auto& [k, v] : ctx_.cors.headers_for(req)) res.set(k, v);
  res.keep_alive(keep_alive);
  if (req.method == "HEAD") {
    res.content_length(r.body.size());
  } else {
    res.body() = std::move(r.body);
    res.prepare_payload();
  }
  stream_.expires_after(kWriteTimeout);
  auto [ec, n] = co_await http::async_write(stream_, res, kTuple);
  stream_.expires_never();
  log(req, r.status);
  co_return !ec && keep_alive;
}

void Session::log(const Request& req, int status) {
  const double seconds = std::chrono::duration<double>(Clock::now() - started_).count();
  ctx_.state.metrics.count_request(route_name_, status);
  ctx_.state.metrics.observe_request(route_name_, seconds);
  if (status >= 400) ctx_.state.metrics.count_error(route_name_, error_type_);
  spdlog::info("{} {} {} {:.3f} s {}", req.method.empty() ? "-" : req.method,
               req.path.empty() ? "-" : req.path.substr(0, 200), status, seconds, remote_);
}

}  // namespace

net::awaitable<void> run_session(tcp::socket socket, SessionContext& ctx) {
  beast::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  auto session = std::make_shared<Session>(std::move(socket), ctx);
  const uint64_t id = ctx.next_session++;
  const auto executor = co_await net::this_coro::executor;
  {
    std::lock_guard lock(ctx.sessions_m);
    ctx.sessions[id] = [weak = std::weak_ptr<Session>(session), executor] {
      net::post(executor, [weak] {
        if (auto s = weak.lock()) s->close_if_idle();
      });
    };
  }
  ++ctx.live_sessions;
  co_await session->run();
  {
    std::lock_guard lock(ctx.sessions_m);
    ctx.sessions.erase(id);
  }
  --ctx.live_sessions;
}

}  // namespace hark::server
