#include "server/job.h"

namespace hark::server {

void Job::cancel(CancelReason why) {
  int expected = static_cast<int>(CancelReason::kNone);
  cancel_.compare_exchange_strong(expected, static_cast<int>(why));
}

CancelReason Job::cancel_reason() const {
  const auto set = static_cast<CancelReason>(cancel_.load());
  if (set != CancelReason::kNone) return set;
  return Clock::now() > deadline ? CancelReason::kDeadline : CancelReason::kNone;
}

void Job::mark_started() {
  std::lock_guard lock(m_);
  queue_ms_ = std::chrono::duration<double, std::milli>(Clock::now() - submitted_at).count();
}

void Job::publish_segment(const Segment& segment) {
  {
    std::lock_guard lock(m_);
    pending_.push_back(segment);
  }
  notify();
}

void Job::finish(Result result, double decode_ms) {
  {
    std::lock_guard lock(m_);
    result_ = std::move(result);
    decode_ms_ = decode_ms;
    done_ = true;
  }
  notify();
}

void Job::fail(ErrorKind kind, std::string message) {
  {
    std::lock_guard lock(m_);
    error_kind_ = kind;
    error_message_ = std::move(message);
    if (kind == ErrorKind::kCancelled) cancelled_by_ = cancel_reason();
    done_ = true;
  }
  notify();
}

Job::Update Job::take() {
  std::lock_guard lock(m_);
  Update u;
  u.segments.swap(pending_);
  u.done = done_;
  return u;
}

void Job::notify() {
  if (notifier) notifier();
}

std::string_view to_string(CancelReason reason) {
  switch (reason) {
    case CancelReason::kNone: return "none";
    case CancelReason::kClientGone: return "client_gone";
    case CancelReason::kDeadline: return "deadline";
    case CancelReason::kShutdown: return "shutdown";
  }
  return "none";
}

}  // namespace hark::server
