// Test support for tests/server: the real `hark serve` binary started on a free loopback port
// (--port 0; the port is read back from its "listening on" log line), and HTTP clients: libcurl
// for ordinary requests, raw sockets for hand-made or abandoned ones.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace hark::testing {

// The random-weight test model and the decoding flags that keep it fast (greedy, no fallback).
std::vector<std::string> fast_model_args();

class ServerProcess {
 public:
  // Starts `hark serve <fast_model_args> --port 0 <args>` and waits for its listening line; with
  // wait_ready, also for /health to answer 200.
  explicit ServerProcess(std::vector<std::string> args, bool wait_ready = true);
  ~ServerProcess();  // SIGKILL if still running
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  int port() const { return port_; }
  std::string url(const std::string& path) const;
  std::string log() const;
  void signal(int signo);
  // Waits for the process to exit (up to timeout_s); its exit code, or -1 if it did not exit.
  int wait_exit(int timeout_s = 120);
  bool running() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string log_path_;
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& lower_name) const;
};

struct FormField {
  FormField(std::string n, std::string v, std::string file = "", std::string type = "")
      : name(std::move(n)),
        value(std::move(v)),
        filename(std::move(file)),
        content_type(std::move(type)) {}
  std::string name;
  std::string value;         // the content
  std::string filename;      // non-empty: sent as a file part
  std::string content_type;  // of a file part
};

HttpResponse http_get(const std::string& url, const std::vector<std::string>& headers = {});
HttpResponse http_post_form(const std::string& url, const std::vector<FormField>& fields,
                            const std::vector<std::string>& headers = {});
HttpResponse http_post(const std::string& url, const std::string& body,
                       const std::vector<std::string>& headers);
HttpResponse http_request(const std::string& method, const std::string& url,
                          const std::string& body, const std::vector<std::string>& headers);

// A raw TCP connection to 127.0.0.1:port.
class RawConnection {
 public:
  explicit RawConnection(int port);
  ~RawConnection();
  void send(const std::string& bytes);
  // Reads until the peer closes or a complete response (headers + Content-Length body) arrived.
  std::string read_response(int timeout_s = 120);
  // Reads until `needle` has arrived (or the peer closes, or timeout_s); all bytes so far.
  std::string read_until(const std::string& needle, int timeout_s = 300);
  void close();

 private:
  int fd_ = -1;
};

// A multipart/form-data body and its Content-Type, for raw requests.
std::pair<std::string, std::string> multipart_body(const std::vector<FormField>& fields);
// A complete POST request with that body.
std::string raw_post(const std::string& path, const std::vector<FormField>& fields,
                     bool keep_alive = true);

// The value of a Prometheus sample ("name{labels}"), or nullopt.
std::optional<double> metric(const std::string& metrics_text, const std::string& sample);
// Polls GET /metrics until pred(text) holds (up to timeout_s); the last text.
bool wait_for_metrics(const ServerProcess& server, bool (*pred)(const std::string&),
                      int timeout_s = 120);

std::string read_binary(const std::string& path);
// The first `seconds` of jfk.wav, as a WAV file.
std::string jfk_clip(double seconds);
// jfk.wav `times` times in a row (11 s each), as one WAV file.
std::string jfk_repeated(int times);
// `seconds` of quiet noise as 8 kHz 8-bit WAV: many 30 s windows of slow work in a small upload.
std::string long_noise_wav(double seconds);

}  // namespace hark::testing

namespace hark::testing {

// A one-thread HTTP/1.0 server on 127.0.0.1 for /transcribe/url tests: each path answers a
// canned status, extra header lines and body.
class TinyHttpServer {
 public:
  struct Reply {
    int status = 200;
    std::string headers;  // "Location: ...\r\n" lines
    std::string body;
  };
  explicit TinyHttpServer(std::map<std::string, Reply> replies);
  ~TinyHttpServer();
  int port() const { return port_; }
  std::string url(const std::string& path) const;
  int requests() const { return requests_; }

 private:
  void serve();
  std::map<std::string, Reply> replies_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

}  // namespace hark::testing
