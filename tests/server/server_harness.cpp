#include "server/server_harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/test_env.h"

namespace hark::testing {
namespace {

using Clock = std::chrono::steady_clock;

void put_le(std::string& out, uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out += char((v >> (8 * i)) & 0xff);
}

std::string wav(int rate, int bits, const std::string& samples) {
  std::string out = "RIFF";
  put_le(out, uint32_t(36 + samples.size()), 4);
  out += "WAVEfmt ";
  put_le(out, 16, 4);
  put_le(out, 1, 2);  // PCM
  put_le(out, 1, 2);  // mono
  put_le(out, uint32_t(rate), 4);
  put_le(out, uint32_t(rate * bits / 8), 4);
  put_le(out, uint32_t(bits / 8), 2);
  put_le(out, uint32_t(bits), 2);
  out += "data";
  put_le(out, uint32_t(samples.size()), 4);
  return out + samples;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<HttpResponse*>(user);
  std::string line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) r->headers.clear();  // 100 Continue, then the real one
  const size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (char& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
    r->headers[name] = value;
  }
  return size * n;
}

HttpResponse perform(CURL* c, const std::vector<std::string>& headers) {
  HttpResponse r;
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 300L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  const CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(list);
  if (rc != CURLE_OK) throw std::runtime_error(std::string("curl: ") + curl_easy_strerror(rc));
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  r.status = int(status);
  return r;
}

struct Easy {
  Easy() : c(curl_easy_init()) {}
  ~Easy() { curl_easy_cleanup(c); }
  CURL* c;
};

}  // namespace

std::vector<std::string> fast_model_args() {
  return {"serve",       "--model", test_data("models/tiny-v3-random"),
          "--beam-size", "1",       "--no-fallback",
          "--threads",   "2"};
}

ServerProcess::ServerProcess(std::vector<std::string> args, bool wait_ready) {
  static int counter = 0;
  log_path_ = temp_dir() + "/serve-" + std::to_string(++counter) + ".log";
  std::vector<std::string> all = fast_model_args();
  all.insert(all.end(), {"--port", "0"});
  all.insert(all.end(), args.begin(), args.end());
  const std::string program = hark_binary();
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    const int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
    std::vector<char*> argv{const_cast<char*>(program.c_str())};
    for (auto& a : all) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(program.c_str(), argv.data());
    _exit(127);
  }
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  const std::string marker = "listening on http://127.0.0.1:";
  while (port_ == 0) {
    const std::string text = log();
    if (const size_t at = text.find(marker); at != std::string::npos) {
      port_ = std::atoi(text.c_str() + at + marker.size());
    } else if (Clock::now() > deadline || waitpid(pid_, nullptr, WNOHANG) == pid_) {
      throw std::runtime_error("hark serve did not start; its log:\n" + text);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  while (wait_ready && http_get(url("/health")).status != 200) {
    if (Clock::now() > deadline) throw std::runtime_error("hark serve never became ready");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

std::string ServerProcess::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

std::string ServerProcess::log() const { return read_binary(log_path_); }

void ServerProcess::signal(int signo) { kill(pid_, signo); }

int ServerProcess::wait_exit(int timeout_s) {
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  while (Clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

std::string HttpResponse::header(const std::string& lower_name) const {
  const auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

HttpResponse http_get(const std::string& url, const std::vector<std::string>& headers) {
  return http_request("GET", url, "", headers);
}

HttpResponse http_request(const std::string& method, const std::string& url,
                          const std::string& body, const std::vector<std::string>& headers) {
  Easy e;
  curl_easy_setopt(e.c, CURLOPT_URL, url.c_str());
  if (method == "HEAD") {
    curl_easy_setopt(e.c, CURLOPT_NOBODY, 1L);
  } else if (method != "GET") {
    curl_easy_setopt(e.c, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  if (!body.empty() || method == "POST") {
    curl_easy_setopt(e.c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(e.c, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.size()));
  }
  return perform(e.c, headers);
}

HttpResponse http_post(const std::string& url, const std::string& body,
                       const std::vector<std::string>& headers) {
  return http_request("POST", url, body, headers);
}

HttpResponse http_post_form(const std::string& url, const std::vector<FormField>& fields,
                            const std::vector<std::string>& headers) {
  Easy e;
  curl_easy_setopt(e.c, CURLOPT_URL, url.c_str());
  curl_mime* mime = curl_mime_init(e.c);
  for (const FormField& f : fields) {
    curl_mimepart* part = curl_mime_addpart(mime);
    curl_mime_name(part, f.name.c_str());
    curl_mime_data(part, f.value.data(), f.value.size());
    if (!f.filename.empty()) curl_mime_filename(part, f.filename.c_str());
    if (!f.content_type.empty()) curl_mime_type(part, f.content_type.c_str());
  }
  curl_easy_setopt(e.c, CURLOPT_MIMEPOST, mime);
  HttpResponse r;
  try {
    r = perform(e.c, headers);
  } catch (...) {
    curl_mime_free(mime);
    throw;
  }
  curl_mime_free(mime);
  return r;
}

RawConnection::RawConnection(int port) {
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd_);
    fd_ = -1;
    throw std::runtime_error("connect failed");
  }
}

RawConnection::~RawConnection() { close(); }

void RawConnection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void RawConnection::send(const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) throw std::runtime_error("send failed");
    sent += size_t(n);
  }
}

std::string RawConnection::read_response(int timeout_s) {
  std::string out;
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  char buf[65536];
  while (Clock::now() < deadline) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, size_t(n));
    const size_t end = out.find("\r\n\r\n");
    if (end == std::string::npos) continue;
    std::string lower = out.substr(0, end);
    for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
    const size_t cl = lower.find("content-length:");
    if (cl != std::string::npos &&
        out.size() >= end + 4 + size_t(std::atol(lower.c_str() + cl + 15))) {
      break;
    }
  }
  return out;
}

std::string RawConnection::read_until(const std::string& needle, int timeout_s) {
  std::string out;
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  char buf[4096];
  while (Clock::now() < deadline && out.find(needle) == std::string::npos) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, size_t(n));
  }
  return out;
}

std::pair<std::string, std::string> multipart_body(const std::vector<FormField>& fields) {
  const std::string boundary = "----hark-test-boundary-7MA4YWxkTrZu0gW";
  std::string body;
  for (const FormField& f : fields) {
    body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + f.name + "\"";
    if (!f.filename.empty()) body += "; filename=\"" + f.filename + "\"";
    body += "\r\n";
    if (!f.content_type.empty()) body += "Content-Type: " + f.content_type + "\r\n";
    body += "\r\n" + f.value + "\r\n";
  }
  body += "--" + boundary + "--\r\n";
  return {body, "multipart/form-data; boundary=" + boundary};
}

std::string raw_post(const std::string& path, const std::vector<FormField>& fields,
                     bool keep_alive) {
  const auto [body, type] = multipart_body(fields);
  return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) +
         (keep_alive ? "" : "\r\nConnection: close") + "\r\n\r\n" + body;
}

std::optional<double> metric(const std::string& text, const std::string& sample) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(sample + " ", 0) == 0) return std::atof(line.c_str() + sample.size() + 1);
  }
  return std::nullopt;
}

bool wait_for_metrics(const ServerProcess& server, bool (*pred)(const std::string&),
                      int timeout_s) {
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  while (Clock::now() < deadline) {
    if (pred(http_get(server.url("/metrics")).body)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return false;
}

std::string read_binary(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string jfk_clip(double seconds) {
  const std::string all = read_binary(asset("jfk.wav"));
  const size_t data = all.find("data");
  if (data == std::string::npos) throw std::runtime_error("jfk.wav: no data chunk");
  const size_t bytes = std::min(all.size() - data - 8, size_t(seconds * 16000) * 2);
  return wav(16000, 16, all.substr(data + 8, bytes));
}

std::string jfk_repeated(int times) {
  const std::string one = jfk_clip(11);
  std::string samples;
  for (int i = 0; i < times; ++i) samples += one.substr(44);
  return wav(16000, 16, samples);
}

std::string long_noise_wav(double seconds) {
  std::mt19937 rng(42);
  std::string samples(size_t(seconds * 8000), '\0');
  for (char& c : samples) c = char(128 + int(rng() % 41) - 20);
  return wav(8000, 8, samples);
}

}  // namespace hark::testing

namespace hark::testing {

TinyHttpServer::TinyHttpServer(std::map<std::string, Reply> replies)
    : replies_(std::move(replies)) {
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd_, 16) != 0) {
    throw std::runtime_error("TinyHttpServer: bind/listen failed");
  }
  socklen_t len = sizeof a;
  getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] { serve(); });
}

TinyHttpServer::~TinyHttpServer() {
  stop_ = true;
  thread_.join();
  ::close(fd_);
}

std::string TinyHttpServer::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

void TinyHttpServer::serve() {
  while (!stop_) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    const int c = accept(fd_, nullptr, nullptr);
    if (c < 0) continue;
    std::string request;
    char buf[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
      pollfd q{c, POLLIN, 0};
      if (poll(&q, 1, 5000) <= 0) break;
      const ssize_t n = recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      request.append(buf, size_t(n));
    }
    ++requests_;
    const size_t sp1 = request.find(' ');
    const size_t sp2 = request.find(' ', sp1 + 1);
    const std::string path = sp1 == std::string::npos ? "" : request.substr(sp1 + 1, sp2 - sp1 - 1);
    const auto it = replies_.find(path);
    const Reply r = it == replies_.end() ? Reply{404, "", "not found"} : it->second;
    const std::string out = "HTTP/1.0 " + std::to_string(r.status) +
                            " X\r\nContent-Length: " + std::to_string(r.body.size()) + "\r\n" +
                            r.headers + "Connection: close\r\n\r\n" + r.body;
    size_t sent = 0;
    while (sent < out.size()) {
      const ssize_t n = ::send(c, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += size_t(n);
    }
    ::close(c);
  }
}

}  // namespace hark::testing
