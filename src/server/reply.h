// What a route returns: a finished Response, or Deferred work for the session to carry out off
// the I/O thread (fetch, queue, transcribe) before it renders the answer. Routes stay plain
// functions of the request, testable without sockets.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <variant>

#include "server/http_types.h"
#include "server/job.h"

namespace hark::server {

struct Deferred {
  std::shared_ptr<Job> job;
  // Non-empty: fetch the audio from this URL into job->audio_storage first (/transcribe/url).
  std::string fetch_url;
  // Builds the response once the job succeeded (called on the I/O thread).
  std::function<Response(const Job&)> render;
  // Set for server-sent events: one event per segment, then a final one (both "data" payloads).
  std::function<std::string(const Segment&, bool first)> sse_delta;
  std::function<std::string(const Job&)> sse_done;
};

using Reply = std::variant<Response, Deferred>;

}  // namespace hark::server
