// The server's behaviour over time and under load, with the real binary: API keys and CORS,
// /health while the model loads, a full queue (503 + Retry-After), a client that disconnects
// (its work is cancelled), the per-request deadline, and SIGTERM (in-flight work finishes, then
// the process exits; after the grace period it is cancelled). Waits poll /metrics until a state
// is reached; nothing asserts on elapsed time.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <future>
#include <nlohmann/json.hpp>

#include "server/server_harness.h"
#include "support/test_env.h"

namespace hark::testing {
namespace {

using json = nlohmann::json;

std::string error_code(const HttpResponse& r) {
  const json j = json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.contains("error")) return "<not an error body: " + r.body + ">";
  return j["error"]["code"].is_string() ? j["error"]["code"].get<std::string>() : "";
}

// The status line and the JSON body of a raw HTTP response.
std::pair<int, json> parse_raw(const std::string& response) {
  if (response.size() < 12) return {0, json()};
  const size_t body = response.find("\r\n\r\n");
  return {std::atoi(response.c_str() + 9),
          json::parse(response.substr(body == std::string::npos ? 0 : body + 4), nullptr, false)};
}

bool one_active(const std::string& m) {
  return metric(m, R"(hark_active_requests{device="cpu"})") == 1;
}

TEST(Lifecycle, ApiKeysFromFlagAndFile) {
  const std::string keys = temp_dir() + "/keys.txt";
  std::ofstream(keys) << "# team keys\n\nkey-from-file\n";
  ServerProcess server({"--api-key", "key-from-flag", "--api-keys-file", keys});
  const HttpResponse none = http_get(server.url("/v1/models"));
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(error_code(none), "invalid_api_key");
  EXPECT_EQ(none.header("www-authenticate"), "Bearer");
  EXPECT_EQ(http_get(server.url("/v1/models"), {"Authorization: Bearer wrong"}).status, 401);
  EXPECT_EQ(http_get(server.url("/v1/models"), {"Authorization: Bearer key-from-flag"}).status,
            200);
  EXPECT_EQ(http_get(server.url("/metrics"), {"X-API-Key: key-from-file"}).status, 200);
  EXPECT_EQ(http_get(server.url("/gpu-status"), {"X-API-Key: key-from-flag2"}).status, 401);
  // Uploads are refused before their body is read.
  const HttpResponse upload =
      http_post_form(server.url("/v1/audio/transcriptions"),
                     {{"file", jfk_clip(1), "a.wav"}, {"model", "whisper-1"}});
  EXPECT_EQ(upload.status, 401);
  const HttpResponse ok = http_post_form(server.url("/v1/audio/transcriptions"),
                                         {{"file", jfk_clip(1), "a.wav"}, {"model", "whisper-1"}},
                                         {"Authorization: Bearer key-from-file"});
  EXPECT_EQ(ok.status, 200) << ok.body;
  // Health and the docs stay open (load balancers, browsers).
  EXPECT_EQ(http_get(server.url("/health")).status, 200);
  EXPECT_EQ(http_get(server.url("/openapi.json")).status, 200);
}

TEST(Lifecycle, NoKeysMeansNoAuthentication) {
  ServerProcess server({});
  EXPECT_EQ(http_get(server.url("/v1/models")).status, 200);
  EXPECT_EQ(http_get(server.url("/metrics"), {"Authorization: Bearer anything"}).status, 200);
}

TEST(Lifecycle, MissingKeyFileFailsAtStartup) {
  const auto r = [] {
    try {
      ServerProcess server({"--api-keys-file", "/nonexistent/keys"}, false);
      return std::string("started");
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
  }();
  EXPECT_NE(r.find("cannot open the API key file"), std::string::npos) << r;
}

// The server listens before the model loads; a model that cannot load ends the process with 1.
TEST(Lifecycle, ModelThatFailsToLoadExitsWithOne) {
  ServerProcess server({"--tokenizer", temp_dir() + "/no-such-tokenizer.json"}, false);
  EXPECT_EQ(server.wait_exit(), 1) << server.log();
  EXPECT_NE(server.log().find("the model failed to load"), std::string::npos) << server.log();
}

TEST(Lifecycle, CorsPreflightAndHeaders) {
  ServerProcess server({"--cors-origin", "https://app.example", "--api-key", "k"});
  const HttpResponse pre =
      http_request("OPTIONS", server.url("/v1/audio/transcriptions"), "",
                   {"Origin: https://app.example", "Access-Control-Request-Method: POST",
                    "Access-Control-Request-Headers: authorization"});
  EXPECT_EQ(pre.status, 204);
  EXPECT_EQ(pre.header("access-control-allow-origin"), "https://app.example");
  EXPECT_NE(pre.header("access-control-allow-methods").find("POST"), std::string::npos);
  EXPECT_NE(pre.header("access-control-allow-headers").find("Authorization"), std::string::npos);
  const HttpResponse get = http_get(server.url("/health"), {"Origin: https://app.example"});
  EXPECT_EQ(get.header("access-control-allow-origin"), "https://app.example");
  const HttpResponse other = http_get(server.url("/health"), {"Origin: https://evil.example"});
  EXPECT_EQ(other.header("access-control-allow-origin"), "");
  EXPECT_EQ(http_request("OPTIONS", server.url("/health"), "",
                         {"Origin: https://evil.example", "Access-Control-Request-Method: GET"})
                .status,
            403);
}

TEST(Lifecycle, HealthIs503WhileTheModelLoads) {
  ServerProcess server({"--debug-load-delay-ms", "600000"}, false);
  const HttpResponse h = http_get(server.url("/health"));
  EXPECT_EQ(h.status, 503);
  EXPECT_EQ(json::parse(h.body)["status"], "loading");
  EXPECT_FALSE(h.header("retry-after").empty());
  const HttpResponse t = http_post_form(server.url("/v1/audio/transcriptions"),
                                        {{"file", jfk_clip(1), "a.wav"}, {"model", "whisper-1"}});
  EXPECT_EQ(t.status, 503);
  EXPECT_EQ(error_code(t), "model_not_ready");
  // Other routes answer meanwhile, and SIGTERM ends the load.
  EXPECT_EQ(http_get(server.url("/v1/models")).status, 200);
  server.signal(SIGTERM);
  EXPECT_EQ(server.wait_exit(), 0) << server.log();
}

// --queue-size 1 with one worker: one request runs, one waits, the third is refused with 503 and
// Retry-After. Both slow clients then hang up; each cancellation shows in /metrics.
TEST(Lifecycle, FullQueueIs503AndDisconnectsCancel) {
  ServerProcess server({"--queue-size", "1", "--workers", "1"});
  const std::string slow =
      raw_post("/v1/audio/transcriptions",
               {{"file", long_noise_wav(600), "noise.wav", "audio/wav"}, {"model", "whisper-1"}});
  RawConnection first(server.port());
  first.send(slow);
  ASSERT_TRUE(wait_for_metrics(server, one_active)) << server.log();
  RawConnection second(server.port());
  second.send(slow);
  ASSERT_TRUE(wait_for_metrics(server, [](const std::string& m) {
    return metric(m, R"(hark_queue_depth{device="cpu"})") == 1;
  }));
  const HttpResponse third =
      http_post_form(server.url("/v1/audio/transcriptions"),
                     {{"file", jfk_clip(1), "a.wav"}, {"model", "whisper-1"}});
  EXPECT_EQ(third.status, 503) << third.body;
  EXPECT_EQ(error_code(third), "queue_full");
  EXPECT_FALSE(third.header("retry-after").empty());
  EXPECT_EQ(metric(http_get(server.url("/metrics")).body, "hark_rejected_total"), 1);
  // Both clients go away: the running job stops at its next window, the queued one never starts.
  first.close();
  second.close();
  ASSERT_TRUE(wait_for_metrics(server, [](const std::string& m) {
    return metric(m, R"(hark_cancelled_total{reason="client_gone"})") == 2 &&
           metric(m, R"(hark_active_requests{device="cpu"})") == 0 &&
           metric(m, R"(hark_queue_depth{device="cpu"})") == 0;
  })) << server.log();
  EXPECT_NE(server.log().find("the client went away"), std::string::npos);
  // The server serves normally afterwards.
  const HttpResponse after =
      http_post_form(server.url("/v1/audio/transcriptions"),
                     {{"file", jfk_clip(1), "a.wav"}, {"model", "whisper-1"}});
  EXPECT_EQ(after.status, 200) << after.body;
}

// stream=true delivers each segment when its window is done, not all at the end: the first delta
// arrives while the transcription is still running (three windows of audio), and a client that
// leaves mid-stream cancels the rest.
TEST(Lifecycle, StreamDeliversSegmentsWhileTranscribing) {
  ServerProcess server({});
  RawConnection client(server.port());
  client.send(
      raw_post("/v1/audio/transcriptions", {{"file", jfk_repeated(6), "six.wav", "audio/wav"},
                                            {"model", "whisper-1"},
                                            {"stream", "true"}}));
  const std::string head = client.read_until("transcript.text.delta");
  ASSERT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
  EXPECT_NE(head.find("Content-Type: text/event-stream"), std::string::npos);
  ASSERT_NE(head.find("data: {\"delta\""), std::string::npos) << head;
  EXPECT_EQ(head.find("transcript.text.done"), std::string::npos);
  const std::string m = http_get(server.url("/metrics")).body;
  EXPECT_EQ(metric(m, R"(hark_active_streams{device="cpu"})"), 1);
  client.close();
  ASSERT_TRUE(wait_for_metrics(server, [](const std::string& text) {
    return metric(text, R"(hark_cancelled_total{reason="client_gone"})") == 1;
  })) << server.log();
}

TEST(Lifecycle, DeadlineAnswers504) {
  ServerProcess server({"--request-timeout", "1"});
  const HttpResponse r =
      http_post_form(server.url("/transcribe"), {{"file", long_noise_wav(600), "noise.wav"}});
  EXPECT_EQ(r.status, 504) << r.body;
  EXPECT_EQ(error_code(r), "timeout");
  EXPECT_EQ(
      metric(http_get(server.url("/metrics")).body, R"(hark_cancelled_total{reason="deadline"})"),
      1);
}

// SIGTERM while a request runs: it still gets its 200, no new connection is accepted, and the
// process exits 0.
TEST(Lifecycle, SigtermDrainsInFlightWork) {
  ServerProcess server({});
  RawConnection client(server.port());
  client.send(raw_post("/transcribe", {{"file", jfk_clip(6), "clip.wav", "audio/wav"}}));
  ASSERT_TRUE(wait_for_metrics(server, one_active));
  server.signal(SIGTERM);
  const auto [status, body] = parse_raw(client.read_response());
  EXPECT_EQ(status, 200) << body.dump();
  EXPECT_TRUE(body.contains("text"));
  EXPECT_EQ(server.wait_exit(), 0) << server.log();
  const std::string log = server.log();
  EXPECT_NE(log.find("SIGTERM: no longer accepting; finishing 1 request(s)"), std::string::npos)
      << log;
  EXPECT_NE(log.find("shutdown complete"), std::string::npos);
  EXPECT_THROW(RawConnection{server.port()}, std::runtime_error);
}

// With no grace left, running work is cancelled: its client gets 503 "shutting_down".
TEST(Lifecycle, SigtermCancelsAfterTheGracePeriod) {
  ServerProcess server({"--shutdown-grace", "0"});
  RawConnection client(server.port());
  client.send(raw_post("/transcribe", {{"file", long_noise_wav(600), "noise.wav", "audio/wav"}}));
  ASSERT_TRUE(wait_for_metrics(server, one_active));
  server.signal(SIGTERM);
  const auto [status, body] = parse_raw(client.read_response());
  EXPECT_EQ(status, 503);
  EXPECT_EQ(body["error"]["code"], "shutting_down") << body.dump();
  EXPECT_EQ(server.wait_exit(), 0) << server.log();
}

TEST(Lifecycle, UrlRouteFetchesWhenPrivateAddressesAreAllowed) {
  TinyHttpServer files({{"/clip.wav", {200, "", jfk_clip(3)}},
                        {"/moved", {301, "Location: /clip.wav\r\n", ""}},
                        {"/text", {200, "", "hello, not audio"}}});
  ServerProcess server({"--allow-private-urls"});
  const std::vector<std::string> json_type = {"Content-Type: application/json"};
  const HttpResponse r = http_post(server.url("/transcribe/url?include_segments=true"),
                                   json{{"url", files.url("/moved")}}.dump(), json_type);
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = json::parse(r.body);
  EXPECT_EQ(j["duration"], 3.0);
  EXPECT_TRUE(j["segments"].is_array());
  const HttpResponse bad =
      http_post(server.url("/transcribe/url"), json{{"url", files.url("/text")}}.dump(), json_type);
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(error_code(bad), "invalid_audio");
  const HttpResponse missing = http_post(server.url("/transcribe/url"),
                                         json{{"url", files.url("/nothing")}}.dump(), json_type);
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(error_code(missing), "url_fetch_failed");
}

}  // namespace
}  // namespace hark::testing
