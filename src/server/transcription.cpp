#include "server/transcription.h"

#include <fmt/format.h>

#include "hark/formats.h"
#include "server/api_error.h"

namespace hark::server {

std::vector<FormPart> upload_parts(const Request& request) {
  const std::string* content_type = request.header("Content-Type");
  if (!content_type || media_type(*content_type) != "multipart/form-data") {
    throw bad_param("file",
                    "expected a multipart/form-data upload with the audio in a 'file' field "
                    "(curl -F file=@audio.wav)",
                    "invalid_content_type");
  }
  try {
    return parse_multipart(request.body, *content_type);
  } catch (const Error& e) {
    throw bad_param("file", e.what(), "invalid_multipart");
  }
}

std::shared_ptr<Job> empty_job(const ServerState& state) {
  auto job = std::make_shared<Job>();
  job->options = state.options.defaults;
  job->deadline =
      Clock::now() + std::chrono::milliseconds(int64_t(state.options.request_timeout_s * 1000));
  return job;
}

std::shared_ptr<Job> upload_job(Request& request, const FormPart& file, const ServerState& state) {
  if (file.data.empty()) throw bad_param("file", "the uploaded file is empty", "empty_file");
  auto job = empty_job(state);
  if (file.filename && !file.filename->empty()) job->audio_name = *file.filename;
  const size_t offset = size_t(file.data.data() - request.body.data());
  const size_t size = file.data.size();
  job->audio_storage = std::move(request.body);
  job->audio = std::string_view(job->audio_storage).substr(offset, size);
  return job;
}

nlohmann::json performance_metrics(const Job& job) {
  const Result& r = *job.result();
  const StageTimings& t = r.timings;
  const double total_ms = job.decode_ms() + t.total_ms;
  nlohmann::json stages = {{"audio_decode", {{"duration", job.decode_ms() / 1000}}},
                           {"mel", {{"duration", t.mel_ms / 1000}}},
                           {"encoder", {{"duration", t.encoder_ms / 1000}}},
                           {"decoder", {{"duration", t.decoder_ms / 1000}}}};
  if (r.has_words) stages["alignment"] = {{"duration", t.alignment_ms / 1000}};
  return {{"total_duration", total_ms / 1000},
          {"queue_wait", job.queue_ms() / 1000},
          {"device", job.device},
          {"windows", t.windows},
          {"real_time_factor", total_ms > 0 ? r.duration / (total_ms / 1000) : 0.0},
          {"stages", stages}};
}

std::string server_timing(const Job& job) {
  const StageTimings& t = job.result()->timings;
  return fmt::format(
      "queue;dur={:.1f}, decode;dur={:.1f}, mel;dur={:.1f}, encoder;dur={:.1f}, "
      "decoder;dur={:.1f}, alignment;dur={:.1f}, total;dur={:.1f}",
      job.queue_ms(), job.decode_ms(), t.mel_ms, t.encoder_ms, t.decoder_ms, t.alignment_ms,
      job.decode_ms() + t.total_ms);
}

std::string clean_text(const Result& result) {
  return nlohmann::json::parse(format_result(result, "json")).at("text").get<std::string>();
}

}  // namespace hark::server
