// Parameters come from the query string (seed 003: ?language=en&include_segments=true&
// task=translate) or, for /transcribe, equally from form fields; /transcribe/url also reads them
// from its JSON body. Unknown names are refused (400) rather than silently ignored.
#include "server/native_routes.h"

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "server/api_error.h"
#include "server/form_values.h"
#include "server/transcription.h"

namespace hark::server {
namespace {

struct NativeParams {
  std::string language = "auto";
  std::string task = "transcribe";
  bool include_segments = false;
  bool word_timestamps = false;
  bool timings = false;
};

// One parameter by name; false when the name is not one of ours.
bool read_param(NativeParams& p, const std::string& name, std::string_view value) {
  if (name == "language") {
    p.language = parse_language("language", value);
  } else if (name == "task") {
    p.task = parse_choice("task", value, {"transcribe", "translate"});
  } else if (name == "include_segments") {
    p.include_segments = parse_bool(name, value);
  } else if (name == "word_timestamps") {
    p.word_timestamps = parse_bool(name, value);
  } else if (name == "timings" || name == "performance_metrics") {
    p.timings = parse_bool(name, value);
  } else {
    return false;
  }
  return true;
}

[[noreturn]] void unknown_param(const std::string& name) {
  throw ApiError(400,
                 fmt::format("unknown parameter '{}': expected language, task, include_segments, "
                             "word_timestamps or timings",
                             name.substr(0, 64)),
                 "invalid_request_error", name.substr(0, 64), "unknown_parameter");
}

NativeParams query_params(const Request& request) {
  NativeParams p;
  for (const auto& [name, value] : request.query) {
    if (!read_param(p, name, value)) unknown_param(name);
  }
  return p;
}

double ms3(double seconds) { return std::nearbyint(seconds * 1000) / 1000; }

nlohmann::json segments_json(const Result& r) {
  nlohmann::json out = nlohmann::json::array();
  for (const Segment& s : r.segments) {
    nlohmann::json seg = {
        {"id", s.id}, {"start", ms3(s.start)}, {"end", ms3(s.end)}, {"text", s.text}};
    if (r.has_words) {
      nlohmann::json words = nlohmann::json::array();
      for (const Word& w : s.words) {
        words.push_back({{"word", w.word},
                         {"start", ms3(w.start)},
                         {"end", ms3(w.end)},
                         {"probability", std::nearbyint(w.probability * 1e4) / 1e4}});
      }
      seg["words"] = std::move(words);
    }
    out.push_back(std::move(seg));
  }
  return out;
}

Response render(const NativeParams& p, const Job& job) {
  const Result& r = *job.result();
  nlohmann::json body = {
      {"text", clean_text(r)},
      {"language", r.language},
      {"duration", ms3(r.duration)},
      {"processing_time", ms3((job.decode_ms() + r.timings.total_ms) / 1000)},
      {"segments", p.include_segments || p.word_timestamps ? segments_json(r) : nullptr}};
  if (p.timings) body["performance_metrics"] = performance_metrics(job);
  Response out =
      Response::json(200, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  out.headers.emplace_back("Server-Timing", server_timing(job));
  return out;
}

void apply(const NativeParams& p, Job& job) {
  job.options.language = p.language;
  job.options.task = p.task;
  job.options.word_timestamps = p.word_timestamps;
}

Reply transcribe_upload(Request& request, ServerState& state) {
  NativeParams p = query_params(request);
  const std::vector<FormPart> parts = upload_parts(request);
  const FormPart* file = nullptr;
  for (const FormPart& part : parts) {
    if (part.name == "file") {
      if (file) throw bad_param("file", "more than one 'file' field");
      file = &part;
    } else if (!read_param(p, part.name, part.data)) {
      unknown_param(part.name);
    }
  }
  if (!file) {
    throw ApiError(400, "missing the 'file' field: the audio to transcribe",
                   "invalid_request_error", "file", "missing_required_parameter");
  }
  auto job = upload_job(request, *file, state);
  apply(p, *job);
  Deferred d;
  d.job = job;
  d.render = [p](const Job& j) { return render(p, j); };
  return d;
}

Reply transcribe_url(Request& request, ServerState& state) {
  NativeParams p = query_params(request);
  const nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    throw bad_param("url", "expected a JSON object body: {\"url\": \"https://...\"}",
                    "invalid_json");
  }
  std::string url;
  for (const auto& [name, value] : body.items()) {
    if (name == "url") {
      if (!value.is_string()) throw bad_param("url", "url: expected a string");
      url = value.get<std::string>();
    } else {
      const std::string v = value.is_string() ? value.get<std::string>() : value.dump();
      if (!read_param(p, name, v)) unknown_param(name);
    }
  }
  if (url.empty()) {
    throw ApiError(400, "missing \"url\": the address of the audio to fetch",
                   "invalid_request_error", "url", "missing_required_parameter");
  }
  auto job = empty_job(state);
  apply(p, *job);
  Deferred d;
  d.job = job;
  d.fetch_url = url;
  d.render = [p](const Job& j) { return render(p, j); };
  return d;
}

}  // namespace

void add_native_routes(Router& router, ServerState& state) {
  router.add({"POST", "/transcribe",
              "Transcribe an uploaded file (multipart 'file'); query: language, task, "
              "include_segments, word_timestamps, timings",
              true, true, [&state](Request& r) { return transcribe_upload(r, state); }});
  router.add({"POST", "/transcribe/url",
              "Fetch audio from a URL and transcribe it; body {\"url\": ...}", true, false,
              [&state](Request& r) { return transcribe_url(r, state); }});
}

}  // namespace hark::server
