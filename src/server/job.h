// One transcription request on its way through an engine queue. The route fills the inputs, the
// session submits it and waits; a worker thread decodes the audio, transcribes and publishes the
// outcome (and, for streams, each segment as it is final). The two sides meet only here, under
// the job's mutex; the worker calls the notifier after each publication and the session drains
// with take().
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "hark/engine.h"
#include "hark/error.h"
#include "hark/result.h"

namespace hark::server {

using Clock = std::chrono::steady_clock;

enum class CancelReason { kNone, kClientGone, kDeadline, kShutdown };

class Job {
 public:
  // ---- inputs, set before submission ----
  std::string audio_storage;         // owns the bytes (often the whole request body)
  std::string_view audio;            // the upload within audio_storage
  std::string audio_name = "audio";  // for messages only
  TranscribeOptions options;
  Clock::time_point deadline = Clock::time_point::max();
  bool stream_segments = false;  // publish segments one by one (SSE)

  // ---- control, any thread ----
  void cancel(CancelReason why);
  // Why the work should stop now (a withdrawn client, a passed deadline, a shutdown), or kNone.
  CancelReason cancel_reason() const;

  // ---- worker side ----
  void publish_segment(const Segment& segment);
  void finish(Result result, double decode_ms);
  void fail(ErrorKind kind, std::string message);
  // Called after every publication, on the worker thread. Set before submission.
  std::function<void()> notifier;

  // ---- session side ----
  struct Update {
    std::deque<Segment> segments;  // published since the last take()
    bool done = false;
  };
  Update take();
  // Valid once take() reported done.
  const std::optional<Result>& result() const { return result_; }
  ErrorKind error_kind() const { return error_kind_; }
  const std::string& error_message() const { return error_message_; }
  CancelReason cancelled_by() const { return cancelled_by_; }
  double decode_ms() const { return decode_ms_; }
  double queue_ms() const { return queue_ms_; }

  // Set by the pool.
  Clock::time_point submitted_at = Clock::now();
  std::string device;  // the engine's device (cpu, cuda:N) that ran it
  void mark_started();

 private:
  void notify();

  std::atomic<int> cancel_{static_cast<int>(CancelReason::kNone)};
  mutable std::mutex m_;
  std::deque<Segment> pending_;
  bool done_ = false;
  std::optional<Result> result_;
  ErrorKind error_kind_ = ErrorKind::kInternal;
  std::string error_message_;
  CancelReason cancelled_by_ = CancelReason::kNone;
  double decode_ms_ = 0;
  double queue_ms_ = 0;
};

std::string_view to_string(CancelReason reason);

}  // namespace hark::server
