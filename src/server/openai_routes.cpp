// Design: each request's fields are read into an OpenAiRequest (every value checked, unknown
// fields refused with 400 as OpenAI does), then turned into a Job and a renderer. Rendering reuses
// the library's writers (hark/formats.h) so that the server and `hark transcribe` agree byte for
// byte; json and verbose_json get "usage" (and "performance_metrics" when asked) spliced in.
#include "server/openai_routes.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "hark/formats.h"
#include "server/api_error.h"
#include "server/form_values.h"
#include "server/transcription.h"

namespace hark::server {
namespace {

enum class Task { kTranscribe, kTranslate };

struct OpenAiRequest {
  const FormPart* file = nullptr;
  std::string model;
  std::string language = "auto";
  std::string prompt;
  double temperature = 0;
  bool has_temperature = false;
  std::string response_format = "json";
  bool words = false, segments = false;  // timestamp_granularities
  bool granularities_given = false;
  bool stream = false;
  bool timings = false;  // hark's own: performance_metrics in json/verbose_json
};

const std::vector<std::string> kFormats = {"json", "text", "srt", "verbose_json", "vtt"};

void read_granularity(OpenAiRequest& r, std::string_view value) {
  const std::string g =
      parse_choice("timestamp_granularities[]", value, std::vector<std::string>{"word", "segment"});
  (g == "word" ? r.words : r.segments) = true;
  r.granularities_given = true;
}

void read_field(OpenAiRequest& r, const FormPart& part, Task task, const ServerState& state) {
  const std::string& name = part.name;
  const std::string_view v = part.data;
  if (name == "file") {
    if (r.file) throw bad_param("file", "more than one 'file' field");
    r.file = &part;
  } else if (name == "model") {
    r.model = std::string(v);
  } else if (name == "language" && task == Task::kTranscribe) {
    r.language = parse_language("language", v);
  } else if (name == "prompt") {
    r.prompt = std::string(v);
  } else if (name == "temperature") {
    r.temperature = parse_number("temperature", v, 0, 1);
    r.has_temperature = true;
  } else if (name == "response_format") {
    r.response_format = parse_choice("response_format", v, kFormats);
  } else if ((name == "timestamp_granularities[]" || name == "timestamp_granularities") &&
             task == Task::kTranscribe) {
    read_granularity(r, v);
  } else if (name == "stream" && task == Task::kTranscribe) {
    r.stream = parse_bool("stream", v);
  } else if (name == "timings") {
    r.timings = parse_bool("timings", v);
  } else if (name == "chunking_strategy") {
    // Whisper always works in 30 s windows; "auto" is the only strategy there is to ask for.
    if (v != "auto") {
      throw bad_param("chunking_strategy", "chunking_strategy: only \"auto\" is supported");
    }
  } else {
    throw ApiError(400,
                   fmt::format("Unrecognized request argument supplied: {}", name.substr(0, 64)),
                   "invalid_request_error", name.substr(0, 64), "unknown_parameter");
  }
  (void)state;
}

OpenAiRequest read_request(const std::vector<FormPart>& parts, Task task,
                           const ServerState& state) {
  OpenAiRequest r;
  for (const FormPart& part : parts) read_field(r, part, task, state);
  if (!r.file) {
    throw ApiError(400, "missing the 'file' field: the audio to transcribe",
                   "invalid_request_error", "file", "missing_required_parameter");
  }
  if (r.model.empty()) {
    throw ApiError(400, "missing the 'model' field (e.g. whisper-1)", "invalid_request_error",
                   "model", "missing_required_parameter");
  }
  const auto ids = state.model_ids();
  if (std::find(ids.begin(), ids.end(), r.model) == ids.end()) {
    throw ApiError(404,
                   fmt::format("The model '{}' does not exist here; this server has {}",
                               r.model.substr(0, 64), fmt::join(ids, ", ")),
                   "invalid_request_error", "model", "model_not_found");
  }
  if (r.granularities_given && r.response_format != "verbose_json") {
    throw bad_param("timestamp_granularities[]",
                    "timestamp_granularities[] needs response_format=verbose_json");
  }
  if (r.stream && r.response_format != "json" && r.response_format != "text") {
    throw bad_param("stream", "stream=true works with response_format json or text");
  }
  return r;
}

TranscribeOptions decoding_options(const OpenAiRequest& r, Task task, const ServerState& state) {
  TranscribeOptions o = state.options.defaults;
  o.language = task == Task::kTranslate ? "auto" : r.language;
  o.task = task == Task::kTranslate ? "translate" : "transcribe";
  o.initial_prompt = r.prompt;
  // OpenAI: temperature 0 lets the model raise it on failed thresholds (the server's fallback
  // schedule); any other value is used as is.
  if (r.has_temperature && r.temperature > 0) o.temperature = {r.temperature};
  o.word_timestamps = r.words;
  return o;
}

std::string usage_json(const Result& r) {
  return nlohmann::json{{"type", "duration"}, {"seconds", std::ceil(r.duration)}}.dump();
}

// Inserts ,"key":value before the closing brace of a JSON object.
std::string splice(std::string object, const std::string& key, const std::string& encoded) {
  object.pop_back();
  return object + ",\"" + key + "\":" + encoded + "}";
}

Response render(const OpenAiRequest& r, const Job& job) {
  const Result& result = *job.result();
  Response out;
  const std::string& f = r.response_format;
  if (f == "json" || f == "verbose_json") {
    std::string body = format_result(result, f);
    body = splice(std::move(body), "usage", usage_json(result));
    if (r.timings)
      body = splice(std::move(body), "performance_metrics", performance_metrics(job).dump());
    out = Response::json(200, std::move(body));
  } else if (f == "text") {
    out = Response::text(200, clean_text(result) + "\n", "text/plain; charset=utf-8");
  } else if (f == "srt") {
    out = Response::text(200, format_result(result, "srt"), "text/plain; charset=utf-8");
  } else {
    out = Response::text(200, format_result(result, "vtt"), "text/vtt; charset=utf-8");
  }
  out.headers.emplace_back("Server-Timing", server_timing(job));
  return out;
}

std::string delta_event(const Segment& s, bool first) {
  std::string text = s.text;
  if (first) text.erase(0, text.find_first_not_of(' '));
  return nlohmann::json{{"type", "transcript.text.delta"}, {"delta", text}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string done_event(const Job& job) {
  const Result& r = *job.result();
  return nlohmann::json{{"type", "transcript.text.done"},
                        {"text", clean_text(r)},
                        {"usage", nlohmann::json::parse(usage_json(r))}}
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Reply audio_route(Request& request, Task task, ServerState& state) {
  const std::vector<FormPart> parts = upload_parts(request);
  const OpenAiRequest r = read_request(parts, task, state);
  TranscribeOptions options = decoding_options(r, task, state);
  auto job = upload_job(request, *r.file, state);  // parts dangle from here on
  job->options = std::move(options);
  Deferred d;
  d.job = job;
  if (r.stream) {
    job->stream_segments = true;
    d.sse_delta = delta_event;
    d.sse_done = done_event;
  }
  OpenAiRequest kept = r;
  kept.file = nullptr;
  d.render = [kept](const Job& j) { return render(kept, j); };
  return d;
}

Response models(const ServerState& state) {
  nlohmann::json data = nlohmann::json::array();
  const auto created = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  for (const std::string& id : state.model_ids()) {
    data.push_back({{"id", id}, {"object", "model"}, {"created", created}, {"owned_by", "hark"}});
  }
  return Response::json(200, nlohmann::json{{"object", "list"}, {"data", data}}.dump());
}

}  // namespace

void add_openai_routes(Router& router, ServerState& state) {
  router.add({"POST", "/v1/audio/transcriptions",
              "Transcribe audio (OpenAI-compatible multipart upload)", true, true,
              [&state](Request& r) { return audio_route(r, Task::kTranscribe, state); }});
  router.add({"POST", "/v1/audio/translations",
              "Translate audio into English text (OpenAI-compatible multipart upload)", true, true,
              [&state](Request& r) { return audio_route(r, Task::kTranslate, state); }});
  router.add({"GET", "/v1/models", "The models this server answers to (OpenAI-compatible)", true,
              false, [&state](Request&) -> Reply { return models(state); }});
}

}  // namespace hark::server
