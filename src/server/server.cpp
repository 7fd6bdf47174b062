// Design: one io_context run by a few threads; each connection is a coroutine on its own strand
// (http_session.cpp); transcription work runs on the inference pool's threads and URL fetches on
// a small blocking pool, so no request ever waits behind another one's I/O. The model loads on a
// background thread while /health already answers "loading". Shutdown (SIGTERM, SIGINT): close
// the acceptor, close idle keep-alive connections, let sessions finish the request they are
// serving (answered with Connection: close), and after the grace period cancel what is still
// running; a second signal cancels at once.
#include "server/server.h"

#include <signal.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <fstream>
#include <thread>

#include "server/docs_routes.h"
#include "server/http_session.h"
#include "server/native_routes.h"
#include "server/openai_routes.h"
#include "server/status_routes.h"

namespace hark::server {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
constexpr auto kTuple = net::as_tuple(net::use_awaitable);

double gib(size_t bytes) { return double(bytes) / double(1ull << 30); }

size_t host_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  size_t kib = 0;
  while (meminfo >> key >> kib) {
    if (key == "MemTotal:") return kib * 1024;
    meminfo.ignore(256, '\n');
  }
  return 0;
}

// Seed 002's start-up table: every device with its memory and compute capability, then what
// this server runs where.
void log_startup_table(const ServerState& state) {
  const ServerOptions& o = state.options;
  const std::string rule(86, '=');
  spdlog::info("{}", rule);
  spdlog::info("hark serve 0.1.0: devices");
  spdlog::info("{}", rule);
  spdlog::info("{:<8} {:<34} {:>22} {:>10}", "device", "name", "memory used/total", "compute");
  for (const GpuReading& g : state.gpus.read()) {
    const std::string memory =
        g.memory_used ? fmt::format("{:.2f}/{:.2f} GiB", gib(*g.memory_used), gib(g.memory_total))
                      : fmt::format("?/{:.2f} GiB", gib(g.memory_total));
    spdlog::info("{:<8} {:<34} {:>22} {:>10}", fmt::format("cuda:{}", g.index),
                 g.name.substr(0, 34), memory, fmt::format("{}.{}", g.cc_major, g.cc_minor));
  }
  spdlog::info("{:<8} {:<34} {:>22} {:>10}", "cpu",
               fmt::format("{} hardware threads", std::thread::hardware_concurrency()),
               fmt::format("{:.2f} GiB RAM", gib(host_memory_bytes())), "-");
  if (!state.gpus.unavailable_reason().empty()) {
    spdlog::info("no GPU in use: {}", state.gpus.unavailable_reason());
  }
  spdlog::info("{}", rule);
  spdlog::info("model: {} on {} ({} worker(s) and a queue of {} per device); loading...",
               o.engine.model_path, fmt::join(o.devices, ", "), o.workers_per_engine, o.queue_size);
}

struct Runtime {
  explicit Runtime(const ServerOptions& o)
      : keys(o.api_keys, o.api_keys_file),
        ioc(std::max(1, o.io_threads)),
        control(net::make_strand(ioc)),
        acceptor(control),
        signals(control, SIGINT, SIGTERM),
        state(o),
        cors(o.cors_origins),
        blocking(2),
        ctx(state, router, keys, cors, fetch_options(o), blocking.get_executor()) {}

  static UrlFetchOptions fetch_options(const ServerOptions& o) {
    UrlFetchOptions f;
    f.max_bytes = o.url_max_bytes ? o.url_max_bytes : o.max_upload_bytes;
    f.timeout_s = o.url_timeout_s;
    f.allow_private = o.allow_private_urls;
    return f;
  }

  ApiKeys keys;
  net::io_context ioc;  // outlives the state below: jobs hold timers of its sessions
  // The acceptor, the signals, the shutdown and the load notice run on this strand.
  net::strand<net::io_context::executor_type> control;
  tcp::acceptor acceptor;
  net::signal_set signals;
  ServerState state;
  Router router;
  Cors cors;
  net::thread_pool blocking;
  SessionContext ctx;
  std::atomic<int> exit_code{0};
  std::atomic<bool> cancelled{false};
};

void listen(Runtime& rt) {
  const ServerOptions& o = rt.state.options;
  boost::system::error_code ec;
  const auto address = net::ip::make_address(o.host, ec);
  if (ec)
    throw Error(ErrorKind::kInvalidArgument, fmt::format("--host {}: not an IP address", o.host));
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(o.port));
  rt.acceptor.open(endpoint.protocol(), ec);
  if (!ec) rt.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) rt.acceptor.bind(endpoint, ec);
  if (!ec) rt.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    throw Error(ErrorKind::kIo,
                fmt::format("cannot listen on {}:{}: {}", o.host, o.port, ec.message()));
  }
}

net::awaitable<void> accept_loop(Runtime& rt) {
  for (;;) {
    auto [ec, socket] = co_await rt.acceptor.async_accept(net::make_strand(rt.ioc), kTuple);
    if (ec == net::error::operation_aborted || !rt.acceptor.is_open()) co_return;
    if (ec) {
      spdlog::warn("accept failed: {}", ec.message());
      net::steady_timer pause(rt.control, std::chrono::milliseconds(100));
      co_await pause.async_wait(kTuple);
      continue;
    }
    const auto executor = socket.get_executor();
    net::co_spawn(executor, run_session(std::move(socket), rt.ctx), net::detached);
  }
}

void close_idle_sessions(Runtime& rt) {
  std::lock_guard lock(rt.ctx.sessions_m);
  for (const auto& [id, close] : rt.ctx.sessions) close();
}

// Waits for the sessions to finish, cancelling running work once the grace period is over.
net::awaitable<void> drain(Runtime& rt) {
  const auto grace_end =
      Clock::now() + std::chrono::milliseconds(int64_t(rt.state.options.shutdown_grace_s * 1000));
  auto hard_end = Clock::time_point::max();
  net::steady_timer tick(rt.control);
  while (rt.ctx.live_sessions > 0 || rt.state.pool.in_flight() > 0) {
    if (!rt.cancelled && Clock::now() >= grace_end) {
      spdlog::warn("grace period over: cancelling {} request(s)", rt.state.pool.in_flight());
      rt.cancelled = true;
      rt.state.pool.cancel_all(CancelReason::kShutdown);
    }
    if (rt.cancelled && hard_end == Clock::time_point::max()) {
      hard_end = Clock::now() + std::chrono::seconds(10);
    }
    if (Clock::now() >= hard_end) break;
    close_idle_sessions(rt);
    tick.expires_after(std::chrono::milliseconds(50));
    co_await tick.async_wait(kTuple);
  }
  spdlog::info("shutdown complete");
  rt.ioc.stop();
}

void begin_shutdown(Runtime& rt, const char* why) {
  if (rt.state.draining.exchange(true)) {
    if (!rt.cancelled) {
      spdlog::warn("second signal: cancelling every request now");
      rt.cancelled = true;
      rt.state.pool.cancel_all(CancelReason::kShutdown);
    }
    return;
  }
  spdlog::info("{}: no longer accepting; finishing {} request(s) (grace {} s)", why,
               rt.state.pool.in_flight(), rt.state.options.shutdown_grace_s);
  boost::system::error_code ec;
  rt.acceptor.close(ec);
  close_idle_sessions(rt);
  net::co_spawn(rt.control, drain(rt), net::detached);
}

void wait_for_signals(Runtime& rt) {
  rt.signals.async_wait([&rt](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    begin_shutdown(rt, signo == SIGTERM ? "SIGTERM" : "SIGINT");
    wait_for_signals(rt);
  });
}

void on_model_loaded(Runtime& rt) {
  if (rt.state.pool.state() == InferencePool::State::kFailed) {
    spdlog::error("the model failed to load: {}", rt.state.pool.load_error());
    rt.exit_code = 1;
    begin_shutdown(rt, "model load failed");
    return;
  }
  if (rt.state.pool.state() != InferencePool::State::kReady) return;
  const ModelInfo& m = rt.state.pool.model_info();
  spdlog::info("model ready: {} ({}, {}, {} mels, {}+{} layers) on {} ({}, {})", m.path, m.format,
               m.size_name, m.n_mels, m.encoder_layers, m.decoder_layers, m.device, m.device_name,
               m.compute_type);
}

}  // namespace

int run_server(const ServerOptions& options) {
  Runtime rt(options);
  add_openai_routes(rt.router, rt.state);
  add_native_routes(rt.router, rt.state);
  add_status_routes(rt.router, rt.state);
  add_docs_routes(rt.router, rt.state);
  log_startup_table(rt.state);
  listen(rt);
  const auto bound = rt.acceptor.local_endpoint();
  spdlog::info("listening on http://{}:{} (API keys: {}, CORS: {})", bound.address().to_string(),
               bound.port(), rt.keys.enabled() ? fmt::format("{} key(s)", rt.keys.size()) : "off",
               options.cors_origins.empty()
                   ? "off"
                   : fmt::format("{}", fmt::join(options.cors_origins, " ")));
  wait_for_signals(rt);
  net::co_spawn(rt.control, accept_loop(rt), net::detached);
  std::thread loader([&rt] {
    rt.state.pool.load();
    net::post(rt.control, [&rt] { on_model_loaded(rt); });
  });
  std::vector<std::thread> io;
  for (int i = 1; i < std::max(1, options.io_threads); ++i)
    io.emplace_back([&rt] { rt.ioc.run(); });
  rt.ioc.run();
  for (auto& t : io) t.join();
  rt.state.pool.stop();  // also ends a load still in progress
  loader.join();
  rt.blocking.join();
  return rt.exit_code;
}

}  // namespace hark::server
