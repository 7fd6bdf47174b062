// Every route of the real `hark serve` binary, driven over HTTP on a loopback port with the
// random-weight test model: each response_format, SSE framing, the native routes with timings,
// and every kind of bad input answered with its status and an OpenAI-shaped JSON error.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include <set>

#include "server/server_harness.h"
#include "support/test_env.h"

namespace hark::testing {
namespace {

using json = nlohmann::json;

class Routes : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ServerProcess({"--max-upload-mb", "1"});
    clip_ = new std::string(jfk_clip(4));
  }
  static void TearDownTestSuite() {
    delete server_;
    delete clip_;
  }
  static std::string url(const std::string& path) { return server_->url(path); }
  static FormField file() { return {"file", *clip_, "clip.wav", "audio/wav"}; }
  static HttpResponse transcribe(std::vector<FormField> fields,
                                 const std::string& path = "/v1/audio/transcriptions") {
    return http_post_form(url(path), fields);
  }

  static ServerProcess* server_;
  static std::string* clip_;
};
ServerProcess* Routes::server_ = nullptr;
std::string* Routes::clip_ = nullptr;

// A 4xx/5xx answer with OpenAI's error shape.
json expect_error(const HttpResponse& r, int status, const std::string& code = "",
                  const std::string& param = "") {
  EXPECT_EQ(r.status, status) << r.body;
  EXPECT_EQ(r.header("content-type"), "application/json");
  const json j = json::parse(r.body, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.body;
  if (j.is_discarded()) return j;
  EXPECT_TRUE(j.contains("error")) << r.body;
  const json& e = j["error"];
  EXPECT_TRUE(e["message"].is_string() && !e["message"].get<std::string>().empty()) << r.body;
  EXPECT_TRUE(e["type"].is_string()) << r.body;
  EXPECT_TRUE(e.contains("param") && e.contains("code")) << r.body;
  if (!code.empty()) {
    EXPECT_EQ(e["code"], code) << r.body;
  }
  if (!param.empty()) {
    EXPECT_EQ(e["param"], param) << r.body;
  }
  return j;
}

TEST_F(Routes, HealthAndModels) {
  const HttpResponse h = http_get(url("/health"));
  ASSERT_EQ(h.status, 200) << h.body;
  const json health = json::parse(h.body);
  EXPECT_EQ(health["status"], "healthy");
  EXPECT_NE(health["model"].get<std::string>().find("tiny-v3-random"), std::string::npos);
  EXPECT_EQ(health["device"].get<std::string>().rfind("cpu", 0), 0u);
  EXPECT_TRUE(health["gpu_available"].is_boolean());

  const HttpResponse m = http_get(url("/v1/models"));
  ASSERT_EQ(m.status, 200);
  const json models = json::parse(m.body);
  EXPECT_EQ(models["object"], "list");
  std::set<std::string> ids;
  for (const json& d : models["data"]) {
    EXPECT_EQ(d["object"], "model");
    ids.insert(d["id"]);
  }
  EXPECT_EQ(ids, (std::set<std::string>{"whisper-1", "tiny-v3-random"}));
}

TEST_F(Routes, TranscriptionJsonAndText) {
  // timings=true (hark's own field) adds seed 004's performance_metrics.
  const HttpResponse r = transcribe({file(), {"model", "whisper-1"}, {"timings", "true"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type"), "application/json");
  const json j = json::parse(r.body);
  EXPECT_TRUE(j["text"].is_string());
  EXPECT_EQ(j["usage"]["type"], "duration");
  EXPECT_EQ(j["usage"]["seconds"], 4.0);
  for (const char* stage : {"audio_decode", "mel", "encoder", "decoder"}) {
    EXPECT_GE(j["performance_metrics"]["stages"][stage]["duration"].get<double>(), 0) << stage;
  }
  EXPECT_NE(r.header("server-timing").find("encoder;dur="), std::string::npos);

  const HttpResponse t =
      transcribe({file(), {"model", "tiny-v3-random"}, {"response_format", "text"}});
  ASSERT_EQ(t.status, 200) << t.body;
  EXPECT_EQ(t.header("content-type"), "text/plain; charset=utf-8");
  EXPECT_EQ(t.body, j["text"].get<std::string>() + "\n");  // deterministic model: same text
}

TEST_F(Routes, TranscriptionSubtitlesAndVerboseJson) {
  const HttpResponse srt = transcribe({file(), {"model", "whisper-1"}, {"response_format", "srt"}});
  ASSERT_EQ(srt.status, 200) << srt.body;
  EXPECT_EQ(srt.body.rfind("1\n00:00:", 0), 0u) << srt.body;
  EXPECT_NE(srt.body.find(" --> 00:00:"), std::string::npos);

  const HttpResponse vtt = transcribe({file(), {"model", "whisper-1"}, {"response_format", "vtt"}});
  ASSERT_EQ(vtt.status, 200) << vtt.body;
  EXPECT_EQ(vtt.header("content-type"), "text/vtt; charset=utf-8");
  EXPECT_EQ(vtt.body.rfind("WEBVTT\n\n", 0), 0u) << vtt.body;
  EXPECT_NE(vtt.body.find(" --> "), std::string::npos);

  const HttpResponse v = transcribe(
      {file(), {"model", "whisper-1"}, {"response_format", "verbose_json"}, {"language", "en"}});
  ASSERT_EQ(v.status, 200) << v.body;
  const json j = json::parse(v.body);
  EXPECT_EQ(j["task"], "transcribe");
  EXPECT_EQ(j["language"], "english");
  EXPECT_EQ(j["duration"], 4.0);
  ASSERT_TRUE(j["segments"].is_array());
  ASSERT_FALSE(j["segments"].empty());
  for (const char* key : {"id", "seek", "start", "end", "text", "tokens", "temperature",
                          "avg_logprob", "compression_ratio", "no_speech_prob"}) {
    EXPECT_TRUE(j["segments"][0].contains(key)) << key;
  }
  EXPECT_FALSE(j.contains("words"));
}

TEST_F(Routes, TimestampGranularitiesBothSpellings) {
  // One request with both spellings: the plain one asks for words, the [] one for segments.
  const HttpResponse r = transcribe({file(),
                                     {"model", "whisper-1"},
                                     {"response_format", "verbose_json"},
                                     {"timestamp_granularities", "word"},
                                     {"timestamp_granularities[]", "segment"}});
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = json::parse(r.body);
  ASSERT_TRUE(j.contains("words")) << r.body;
  ASSERT_TRUE(j["words"].is_array());
  for (const json& w : j["words"]) {
    EXPECT_TRUE(w["word"].is_string());
    EXPECT_LE(w["start"].get<double>(), w["end"].get<double>());
  }
  EXPECT_TRUE(j["segments"].is_array());
  // Both spellings are read (and checked) as the same field.
  for (const char* name : {"timestamp_granularities[]", "timestamp_granularities"}) {
    const HttpResponse bad = transcribe(
        {file(), {"model", "whisper-1"}, {"response_format", "verbose_json"}, {name, "letter"}});
    EXPECT_EQ(bad.status, 400) << name;
  }
}

TEST_F(Routes, Translation) {
  const HttpResponse r = transcribe(
      {file(), {"model", "whisper-1"}, {"response_format", "verbose_json"}, {"prompt", "Hello."}},
      "/v1/audio/translations");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["task"], "translate");
  // Translations take no language (OpenAI's API has none there).
  expect_error(
      transcribe({file(), {"model", "whisper-1"}, {"language", "de"}}, "/v1/audio/translations"),
      400, "unknown_parameter", "language");
}

// SSE: "data: {json}\n\n" events, deltas then one done event with usage; the deltas add up to
// the final text.
TEST_F(Routes, StreamingServerSentEvents) {
  const HttpResponse r = transcribe({file(), {"model", "whisper-1"}, {"stream", "true"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type"), "text/event-stream");
  EXPECT_EQ(r.header("transfer-encoding"), "chunked");
  ASSERT_GE(r.body.size(), 2u);
  EXPECT_EQ(r.body.substr(r.body.size() - 2), "\n\n");
  std::vector<json> events;
  size_t pos = 0;
  while (pos < r.body.size()) {
    const size_t end = r.body.find("\n\n", pos);
    ASSERT_NE(end, std::string::npos);
    const std::string event = r.body.substr(pos, end - pos);
    ASSERT_EQ(event.rfind("data: ", 0), 0u) << event;
    ASSERT_EQ(event.find('\n'), std::string::npos) << "one data line per event: " << event;
    events.push_back(json::parse(event.substr(6)));
    pos = end + 2;
  }
  ASSERT_GE(events.size(), 2u);
  std::string deltas;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    EXPECT_EQ(events[i]["type"], "transcript.text.delta");
    deltas += events[i]["delta"].get<std::string>();
  }
  const json& done = events.back();
  EXPECT_EQ(done["type"], "transcript.text.done");
  EXPECT_EQ(done["usage"]["type"], "duration");
  EXPECT_EQ(done["usage"]["seconds"], 4.0);
  const std::string text = done["text"];
  EXPECT_EQ(deltas.substr(0, text.size()), text);
  EXPECT_EQ(deltas.find_first_not_of(' ', text.size()), std::string::npos);
}

TEST_F(Routes, NativeTranscribeWithSegmentsAndTimings) {
  const HttpResponse bare = http_post_form(url("/transcribe"), {file()});
  ASSERT_EQ(bare.status, 200) << bare.body;
  const json b = json::parse(bare.body);
  for (const char* key : {"text", "language", "duration", "processing_time", "segments"}) {
    EXPECT_TRUE(b.contains(key)) << key;
  }
  EXPECT_TRUE(b["segments"].is_null());
  EXPECT_EQ(b["duration"], 4.0);
  EXPECT_GT(b["processing_time"].get<double>(), 0);

  const HttpResponse full = http_post_form(
      url("/transcribe?language=en&include_segments=true&word_timestamps=true&timings=true"),
      {file()});
  ASSERT_EQ(full.status, 200) << full.body;
  const json f = json::parse(full.body);
  EXPECT_EQ(f["language"], "en");
  ASSERT_TRUE(f["segments"].is_array());
  ASSERT_FALSE(f["segments"].empty());
  EXPECT_TRUE(f["segments"][0]["words"].is_array());
  const json& pm = f["performance_metrics"];
  EXPECT_EQ(pm["device"], "cpu");
  for (const char* stage : {"audio_decode", "mel", "encoder", "decoder", "alignment"}) {
    ASSERT_TRUE(pm["stages"].contains(stage)) << stage;
    EXPECT_GE(pm["stages"][stage]["duration"].get<double>(), 0) << stage;
  }
  EXPECT_GT(pm["total_duration"].get<double>(), 0);
  EXPECT_GE(pm["windows"].get<int>(), 1);
  // The same parameters are read from form fields too (checked: a bad value is refused).
  const HttpResponse field =
      http_post_form(url("/transcribe"), {file(), {"include_segments", "perhaps"}});
  EXPECT_EQ(field.status, 400) << field.body;
}

TEST_F(Routes, BadUploadsAnswerWithJsonErrors) {
  const FormField model{"model", "whisper-1"};
  expect_error(transcribe({model}), 400, "missing_required_parameter", "file");
  expect_error(transcribe({file()}), 400, "missing_required_parameter", "model");
  expect_error(transcribe({file(), {"model", "gpt-9"}}), 404, "model_not_found", "model");
  expect_error(transcribe({file(), model, {"response_format", "xml"}}), 400, "invalid_value",
               "response_format");
  expect_error(transcribe({file(), model, {"response_format", "tsv"}}), 400, "invalid_value");
  expect_error(transcribe({file(),
                           model,
                           {"response_format", "verbose_json"},
                           {"timestamp_granularities[]", "character"}}),
               400, "invalid_value", "timestamp_granularities[]");
  expect_error(transcribe({file(), model, {"timestamp_granularities[]", "word"}}), 400, "",
               "timestamp_granularities[]");  // needs verbose_json
  expect_error(transcribe({file(), model, {"temperature", "1.5"}}), 400, "invalid_value",
               "temperature");
  expect_error(transcribe({file(), model, {"temperature", "warm"}}), 400, "invalid_value",
               "temperature");
  expect_error(transcribe({file(), model, {"language", "klingon"}}), 400, "unsupported_language",
               "language");
  expect_error(transcribe({file(), model, {"stream", "maybe"}}), 400, "invalid_value", "stream");
  expect_error(transcribe({file(), model, {"stream", "true"}, {"response_format", "srt"}}), 400, "",
               "stream");
  expect_error(transcribe({file(), model, {"colour", "blue"}}), 400, "unknown_parameter", "colour");
  expect_error(transcribe({file(), model, file()}), 400, "", "file");
  expect_error(transcribe({{"file", "", "empty.wav"}, model}), 400, "empty_file", "file");
  // Not audio: the decoder's message, as a 400.
  const json not_audio = expect_error(
      transcribe({{"file", "this is not audio at all", "notes.txt"}, model}), 400, "invalid_audio");
  EXPECT_NE(not_audio["error"]["message"].get<std::string>().find("notes.txt"), std::string::npos);
  // Not multipart at all, and a truncated multipart body.
  expect_error(http_post(url("/v1/audio/transcriptions"), R"({"file":"x"})",
                         {"Content-Type: application/json"}),
               400, "invalid_content_type");
  const auto [body, type] = multipart_body({file(), model});
  expect_error(http_post(url("/v1/audio/transcriptions"), body.substr(0, body.size() - 20),
                         {"Content-Type: " + type}),
               400, "invalid_multipart");
  // Native route: unknown or bad query values.
  expect_error(http_post_form(url("/transcribe?speed=fast"), {file()}), 400, "unknown_parameter",
               "speed");
  expect_error(http_post_form(url("/transcribe?task=summarise"), {file()}), 400, "invalid_value",
               "task");
  expect_error(http_post_form(url("/transcribe?include_segments=perhaps"), {file()}), 400,
               "invalid_value", "include_segments");
  expect_error(http_post_form(url("/transcribe"), {}), 400);
}

TEST_F(Routes, OversizedUploadIs413) {
  const std::string big(1300 * 1024, 'x');  // over --max-upload-mb 1
  expect_error(transcribe({{"file", big, "big.wav"}, {"model", "whisper-1"}}), 413,
               "upload_too_large");
  // Chunked (no Content-Length): refused while reading.
  expect_error(
      http_post(url("/transcribe"), big,
                {"Content-Type: multipart/form-data; boundary=x", "Transfer-Encoding: chunked"}),
      413, "upload_too_large");
  // The server is fine afterwards.
  EXPECT_EQ(http_get(url("/health")).status, 200);
}

TEST_F(Routes, UrlRouteRefusesPrivateAddressesAndBadBodies) {
  const std::vector<std::string> json_type = {"Content-Type: application/json"};
  for (const std::string& target :
       {"http://127.0.0.1:" + std::to_string(server_->port()) + "/health",
        std::string("http://localhost/a.wav"),
        std::string("http://169.254.169.254/latest/meta-data/"), std::string("http://[::1]/a.wav"),
        std::string("http://192.168.0.10/a.wav")}) {
    const json body = {{"url", target}};
    expect_error(http_post(url("/transcribe/url"), body.dump(), json_type), 400, "url_not_allowed",
                 "url");
  }
  expect_error(http_post(url("/transcribe/url"), R"({"url":"ftp://example.com/a.wav"})", json_type),
               400, "url_not_allowed");
  expect_error(http_post(url("/transcribe/url"), "not json", json_type), 400, "invalid_json");
  expect_error(http_post(url("/transcribe/url"), R"({"link":"x"})", json_type), 400,
               "unknown_parameter");
  expect_error(http_post(url("/transcribe/url"), R"({})", json_type), 400,
               "missing_required_parameter");
  expect_error(http_post(url("/transcribe/url"), R"({"url":42})", json_type), 400, "", "url");
}

TEST_F(Routes, UnknownRoutesAndMethods) {
  expect_error(http_get(url("/v2/nothing")), 404, "unknown_url");
  const HttpResponse r = http_get(url("/v1/audio/transcriptions"));
  expect_error(r, 405);
  EXPECT_EQ(r.header("allow"), "POST");
  expect_error(http_request("DELETE", url("/health"), "", {}), 405);
}

TEST_F(Routes, MalformedHttpIs400AndTheServerStaysUp) {
  RawConnection c(server_->port());
  c.send("THIS IS NOT HTTP\r\n\r\n");
  const std::string reply = c.read_response(30);
  EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply;
  EXPECT_NE(reply.find("\"error\""), std::string::npos);
  EXPECT_EQ(http_get(url("/health")).status, 200);
}

TEST_F(Routes, KeepAliveServesSeveralRequestsOnOneConnection) {
  RawConnection c(server_->port());
  for (int i = 0; i < 3; ++i) {
    c.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    const std::string reply = c.read_response(30);
    EXPECT_EQ(reply.rfind("HTTP/1.1 200", 0), 0u) << reply;
    EXPECT_EQ(reply.find("Connection: close"), std::string::npos);
  }
}

TEST_F(Routes, GpuStatus) {
  const HttpResponse r = http_get(url("/gpu-status"));
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = json::parse(r.body);
  ASSERT_EQ(j["devices"].size(), 1u);
  const json& d = j["devices"][0];
  EXPECT_EQ(d["device"], "cpu");
  EXPECT_TRUE(d["name"].is_string());
  EXPECT_EQ(d["active_requests"], 0);
  EXPECT_EQ(d["active_streams"], 0);
  EXPECT_EQ(d["capacity"]["concurrent"], 1);
  EXPECT_EQ(d["capacity"]["queue"], 64);
  EXPECT_GT(d["memory_used_bytes"].get<double>(), 0);
  EXPECT_TRUE(j["total_gpus"].is_number());
  EXPECT_TRUE(j["gpus"].is_array());
}

TEST_F(Routes, MetricsCountRequestsErrorsAudioAndStages) {
  ASSERT_EQ(transcribe({file(), {"model", "whisper-1"}}).status, 200);
  expect_error(transcribe({{"model", "whisper-1"}}), 400);
  // The server counts a request once its response is written: the client can read that response
  // a moment before the counter moves (for either request: the first one's connection may still be
  // finishing on a loaded machine), so /metrics is read until both show (or 5 s pass).
  const auto counted = [](const std::string& body) {
    return metric(body, R"(hark_requests_total{route="/v1/audio/transcriptions",status="200"})")
               .has_value() &&
           metric(
               body,
               R"(hark_errors_total{route="/v1/audio/transcriptions",type="invalid_request_error"})")
               .has_value();
  };
  HttpResponse r = http_get(url("/metrics"));
  for (int i = 0; i < 50 && !counted(r.body); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    r = http_get(url("/metrics"));
  }
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type").rfind("text/plain; version=0.0.4", 0), 0u);
  const std::string& m = r.body;
  EXPECT_GE(metric(m, R"(hark_requests_total{route="/v1/audio/transcriptions",status="200"})")
                .value_or(0),
            1);
  EXPECT_GE(
      metric(m,
             R"(hark_errors_total{route="/v1/audio/transcriptions",type="invalid_request_error"})")
          .value_or(0),
      1);
  EXPECT_GE(metric(m, "hark_audio_seconds_total").value_or(0), 4);
  EXPECT_EQ(metric(m, R"(hark_queue_depth{device="cpu"})"), 0);
  EXPECT_TRUE(metric(m, R"(hark_active_requests{device="cpu"})").has_value());
  EXPECT_TRUE(metric(m, "hark_gpu_memory_in_use_bytes").has_value());
  for (const char* stage : {"decode", "mel", "encoder", "decoder", "total"}) {
    EXPECT_GE(
        metric(m, std::string("hark_stage_seconds_count{stage=\"") + stage + "\"}").value_or(0), 1)
        << stage;
    EXPECT_TRUE(
        metric(m, std::string("hark_stage_seconds_bucket{stage=\"") + stage + "\",le=\"+Inf\"}")
            .has_value());
  }
  EXPECT_NE(m.find("# TYPE hark_stage_seconds histogram"), std::string::npos);
}

TEST_F(Routes, OpenApiDocumentListsEveryRouteAndDocsRendersIt) {
  const HttpResponse r = http_get(url("/openapi.json"));
  ASSERT_EQ(r.status, 200);
  const json doc = json::parse(r.body);
  EXPECT_EQ(doc["openapi"].get<std::string>().rfind("3.", 0), 0u);
  const std::set<std::pair<std::string, std::string>> expected = {
      {"post", "/v1/audio/transcriptions"},
      {"post", "/v1/audio/translations"},
      {"get", "/v1/models"},
      {"post", "/transcribe"},
      {"post", "/transcribe/url"},
      {"get", "/health"},
      {"get", "/gpu-status"},
      {"get", "/metrics"},
      {"get", "/openapi.json"},
      {"get", "/docs"}};
  std::set<std::pair<std::string, std::string>> found;
  for (const auto& [path, methods] : doc["paths"].items()) {
    for (const auto& [method, op] : methods.items()) {
      found.insert({method, path});
      EXPECT_TRUE(op.contains("responses")) << path;
      // Each documented GET route answers (not 404/405).
      if (method == "get") {
        EXPECT_EQ(http_get(url(path)).status, 200) << path;
      }
    }
  }
  EXPECT_EQ(found, expected);
  const json& body = doc["paths"]["/v1/audio/transcriptions"]["post"]["requestBody"];
  const json& props = body["content"]["multipart/form-data"]["schema"]["properties"];
  for (const char* field : {"file", "model", "language", "prompt", "temperature", "response_format",
                            "timestamp_granularities[]", "stream"}) {
    EXPECT_TRUE(props.contains(field)) << field;
  }
  const HttpResponse docs = http_get(url("/docs"));
  ASSERT_EQ(docs.status, 200);
  EXPECT_EQ(docs.header("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(docs.body.find("fetch(\"/openapi.json\")"), std::string::npos);
  EXPECT_EQ(docs.body.find("https://"), std::string::npos);  // nothing from a CDN
}

}  // namespace
}  // namespace hark::testing
