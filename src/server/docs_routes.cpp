// Design: each route's request and response shapes are written out here once; routes the table
// does not describe still appear (method, path, summary), so the document can never miss one.
#include "server/docs_routes.h"

namespace hark::server {
namespace {

using json = nlohmann::json;

json ref(const std::string& name) { return {{"$ref", "#/components/schemas/" + name}}; }

json error_responses() {
  json e = {{"description", "Error (OpenAI shape)"},
            {"content", {{"application/json", {{"schema", ref("Error")}}}}}};
  return {{"400", e}, {"401", e}, {"404", e}, {"413", e}, {"503", e}, {"504", e}};
}

json schemas() {
  json error = {{"type", "object"},
                {"properties",
                 {{"error",
                   {{"type", "object"},
                    {"properties",
                     {{"message", {{"type", "string"}}},
                      {"type", {{"type", "string"}}},
                      {"param", {{"type", "string"}, {"nullable", true}}},
                      {"code", {{"type", "string"}, {"nullable", true}}}}}}}}}};
  json word = {{"type", "object"},
               {"properties",
                {{"word", {{"type", "string"}}},
                 {"start", {{"type", "number"}}},
                 {"end", {{"type", "number"}}}}}};
  json segment = {{"type", "object"},
                  {"properties",
                   {{"id", {{"type", "integer"}}},
                    {"seek", {{"type", "integer"}}},
                    {"start", {{"type", "number"}}},
                    {"end", {{"type", "number"}}},
                    {"text", {{"type", "string"}}},
                    {"tokens", {{"type", "array"}, {"items", {{"type", "integer"}}}}},
                    {"temperature", {{"type", "number"}}},
                    {"avg_logprob", {{"type", "number"}}},
                    {"compression_ratio", {{"type", "number"}}},
                    {"no_speech_prob", {{"type", "number"}}}}}};
  json usage = {{"type", "object"},
                {"properties",
                 {{"type", {{"type", "string"}, {"enum", {"duration"}}}},
                  {"seconds", {{"type", "number"}}}}}};
  json metrics = {
      {"type", "object"},
      {"description", "Per-stage timings in seconds (ask with timings=true)"},
      {"properties",
       {{"total_duration", {{"type", "number"}}},
        {"queue_wait", {{"type", "number"}}},
        {"device", {{"type", "string"}}},
        {"windows", {{"type", "integer"}}},
        {"real_time_factor", {{"type", "number"}}},
        {"stages",
         {{"type", "object"},
          {"additionalProperties",
           {{"type", "object"}, {"properties", {{"duration", {{"type", "number"}}}}}}}}}}}};
  json transcription = {{"type", "object"},
                        {"properties",
                         {{"text", {{"type", "string"}}},
                          {"usage", ref("Usage")},
                          {"performance_metrics", ref("PerformanceMetrics")}}}};
  json verbose = {{"type", "object"},
                  {"properties",
                   {{"task", {{"type", "string"}}},
                    {"language", {{"type", "string"}}},
                    {"duration", {{"type", "number"}}},
                    {"text", {{"type", "string"}}},
                    {"segments", {{"type", "array"}, {"items", ref("Segment")}}},
                    {"words", {{"type", "array"}, {"items", ref("Word")}}},
                    {"usage", ref("Usage")},
                    {"performance_metrics", ref("PerformanceMetrics")}}}};
  json native = {{"type", "object"},
                 {"properties",
                  {{"text", {{"type", "string"}}},
                   {"language", {{"type", "string"}}},
                   {"duration", {{"type", "number"}}},
                   {"processing_time", {{"type", "number"}}},
                   {"segments", {{"type", "array"}, {"nullable", true}, {"items", ref("Segment")}}},
                   {"performance_metrics", ref("PerformanceMetrics")}}}};
  return {{"Error", error},
          {"Word", word},
          {"Segment", segment},
          {"Usage", usage},
          {"PerformanceMetrics", metrics},
          {"Transcription", transcription},
          {"VerboseTranscription", verbose},
          {"NativeTranscription", native}};
}

json field(const std::string& type, const std::string& description) {
  return {{"type", type}, {"description", description}};
}

json openai_body(bool translate) {
  json props = {
      {"file", {{"type", "string"}, {"format", "binary"}, {"description", "The audio file"}}},
      {"model", field("string", "whisper-1 or the name GET /v1/models lists")},
      {"prompt", field("string", "Text to condition the first window on")},
      {"response_format",
       {{"type", "string"},
        {"enum", {"json", "text", "srt", "verbose_json", "vtt"}},
        {"default", "json"}}},
      {"temperature",
       {{"type", "number"},
        {"minimum", 0},
        {"maximum", 1},
        {"description", "0 (default): fall back to higher temperatures on failed windows"}}},
      {"timings", field("boolean", "hark: add performance_metrics to json/verbose_json")}};
  if (!translate) {
    props["language"] = field("string", "ISO 639-1 code of the spoken language (default: detect)");
    props["timestamp_granularities[]"] = {
        {"type", "array"},
        {"items", {{"type", "string"}, {"enum", {"word", "segment"}}}},
        {"description", "With verbose_json; 'timestamp_granularities' is accepted too"}};
    props["stream"] =
        field("boolean", "Server-sent events transcript.text.delta and transcript.text.done");
  }
  return {{"required", true},
          {"content",
           {{"multipart/form-data",
             {{"schema",
               {{"type", "object"}, {"required", {"file", "model"}}, {"properties", props}}}}}}}};
}

json openai_responses() {
  json r = error_responses();
  r["200"] = {{"description", "The transcription in the asked format"},
              {"content",
               {{"application/json",
                 {{"schema", {{"oneOf", {ref("Transcription"), ref("VerboseTranscription")}}}}}},
                {"text/plain", {{"schema", {{"type", "string"}}}}},
                {"text/vtt", {{"schema", {{"type", "string"}}}}},
                {"text/event-stream", {{"schema", {{"type", "string"}}}}}}}};
  return r;
}

json query(const std::string& name, const std::string& type, const std::string& description) {
  return {{"name", name},
          {"in", "query"},
          {"required", false},
          {"description", description},
          {"schema", {{"type", type}}}};
}

json native_parameters() {
  return json::array(
      {query("language", "string", "ISO 639-1 code, or auto (default)"),
       query("task", "string", "transcribe (default) or translate (to English)"),
       query("include_segments", "boolean", "Include the segments with their timestamps"),
       query("word_timestamps", "boolean", "Word-level timestamps in each segment"),
       query("timings", "boolean", "Add performance_metrics (per-stage timings)")});
}

json native_responses() {
  json r = error_responses();
  r["200"] = {{"description", "The transcription"},
              {"content", {{"application/json", {{"schema", ref("NativeTranscription")}}}}}};
  return r;
}

// Detailed operations for the routes that take input; others get a generic one.
json operation(const Route& route) {
  json op = {{"summary", route.summary}, {"operationId", route.method + route.path}};
  if (route.requires_key)
    op["security"] = json::array({{{"bearer", json::array()}}, {{"apiKey", json::array()}}});
  else
    op["security"] = json::array();
  if (route.path == "/v1/audio/transcriptions" || route.path == "/v1/audio/translations") {
    op["requestBody"] = openai_body(route.path == "/v1/audio/translations");
    op["responses"] = openai_responses();
  } else if (route.path == "/transcribe") {
    op["parameters"] = native_parameters();
    op["requestBody"] = {
        {"required", true},
        {"content",
         {{"multipart/form-data",
           {{"schema",
             {{"type", "object"},
              {"required", {"file"}},
              {"properties", {{"file", {{"type", "string"}, {"format", "binary"}}}}}}}}}}}};
    op["responses"] = native_responses();
  } else if (route.path == "/transcribe/url") {
    op["parameters"] = native_parameters();
    op["requestBody"] = {
        {"required", true},
        {"content",
         {{"application/json",
           {{"schema",
             {{"type", "object"},
              {"required", {"url"}},
              {"properties",
               {{"url",
                 field("string", "http(s) URL of the audio; public addresses only")}}}}}}}}}};
    op["responses"] = native_responses();
  } else {
    json r = error_responses();
    const bool text = route.path == "/metrics" || route.path == "/docs";
    r["200"] = {{"description", "OK"},
                {"content",
                 {{route.path == "/docs" ? "text/html" : (text ? "text/plain" : "application/json"),
                   {{"schema", {{"type", text ? "string" : "object"}}}}}}}};
    op["responses"] = r;
  }
  return op;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

json openapi_document(const Router& router, const ServerState& state) {
  json paths = json::object();
  for (const Route& route : router.routes()) {
    paths[route.path][lower(route.method)] = operation(route);
  }
  return {{"openapi", "3.0.3"},
          {"info",
           {{"title", "hark"},
            {"version", "0.1.0"},
            {"description",
             "Speech to text with Whisper models: OpenAI-compatible audio routes and hark's own. "
             "Model: " +
                 state.options.engine.model_path}}},
          {"paths", paths},
          {"components",
           {{"schemas", schemas()},
            {"securitySchemes",
             {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}},
              {"apiKey", {{"type", "apiKey"}, {"in", "header"}, {"name", "X-API-Key"}}}}}}}};
}

void add_docs_routes(Router& router, ServerState& state) {
  router.add({"GET", "/openapi.json", "This API as an OpenAPI 3 document", false, false,
              [&router, &state](Request&) -> Reply {
                return Response::json(200, openapi_document(router, state).dump(2));
              }});
  router.add({"GET", "/docs", "Interactive API documentation (renders /openapi.json)", false, false,
              [](Request&) -> Reply {
                return Response::text(200, docs_page(), "text/html; charset=utf-8");
              }});
}

}  // namespace hark::server
