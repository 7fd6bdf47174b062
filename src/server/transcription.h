// What the OpenAI and native transcription routes share: turning an upload into a Job, and the
// per-stage timings (seed 004's performance_metrics, and a Server-Timing header).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "server/http_types.h"
#include "server/job.h"
#include "server/multipart.h"
#include "server/server_state.h"

namespace hark::server {

// The multipart parts of an upload request (400 when the body is not multipart/form-data).
std::vector<FormPart> upload_parts(const Request& request);

// A job for the audio in `file`, a part of request.body. Takes the body over (so every other
// part's view dangles afterwards: read the fields first). 400 for an empty file.
std::shared_ptr<Job> upload_job(Request& request, const FormPart& file, const ServerState& state);

// A job without audio yet (a URL to fetch), with the server's deadline and decoding defaults.
std::shared_ptr<Job> empty_job(const ServerState& state);

// {"total_duration", "queue_wait", "device", "windows", "stages": {"audio_decode": {"duration"},
// "mel", "encoder", "decoder", "alignment"}} in seconds.
nlohmann::json performance_metrics(const Job& job);
// "decode;dur=12.1, mel;dur=3.0, ..." in milliseconds.
std::string server_timing(const Job& job);
// The result's text, stripped and with invalid UTF-8 replaced (the "text" of the json format).
std::string clean_text(const Result& result);

}  // namespace hark::server
