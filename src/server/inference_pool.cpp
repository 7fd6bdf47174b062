#include "server/inference_pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <new>

#include "hark/audio.h"

namespace hark::server {

struct InferencePool::Slot {
  std::unique_ptr<Engine> engine;
  std::string device;
  mutable std::mutex m;
  std::condition_variable cv;
  std::deque<std::shared_ptr<Job>> queue;
  std::vector<std::shared_ptr<Job>> running;
  size_t n_workers = 0;
  std::vector<std::thread> workers;

  // Room for one more: every worker busy leaves queue_size jobs waiting at most.
  bool has_room(size_t queue_size) const {
    return queue.size() + running.size() < n_workers + queue_size;
  }
  double load() const { return double(queue.size() + running.size()) / double(n_workers); }
};

namespace {

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

InferencePool::InferencePool(PoolOptions options, Metrics& metrics)
    : options_(std::move(options)), metrics_(metrics) {}

InferencePool::~InferencePool() { stop(); }

void InferencePool::load() {
  try {
    const auto delay_end = Clock::now() + std::chrono::milliseconds(options_.load_delay_ms);
    while (Clock::now() < delay_end && !stopping_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::vector<std::unique_ptr<Slot>> slots;
    for (const std::string& device : options_.devices) {
      EngineOptions eo = options_.engine;
      eo.device = device;
      auto slot = std::make_unique<Slot>();
      slot->engine = Engine::load(eo);
      slot->device = slot->engine->info().device;
      slots.push_back(std::move(slot));
    }
    {
      std::lock_guard lock(load_m_);
      if (stopping_) return;  // shut down while loading: start no workers
      slots_ = std::move(slots);
      for (auto& slot : slots_) {
        slot->n_workers = size_t(std::max(1, options_.workers_per_engine));
        for (size_t i = 0; i < slot->n_workers; ++i) {
          Slot* s = slot.get();
          slot->workers.emplace_back([this, s] { work(*s); });
        }
      }
    }
    State expected = State::kLoading;
    state_.compare_exchange_strong(expected, State::kReady);
  } catch (const std::exception& e) {
    std::lock_guard lock(load_m_);
    load_error_ = e.what();
    state_ = State::kFailed;
  }
}

std::string InferencePool::load_error() const {
  std::lock_guard lock(load_m_);
  return load_error_;
}

bool InferencePool::submit(const std::shared_ptr<Job>& job) {
  if (state_ != State::kReady) return false;
  // Least loaded first: (running + queued) per worker, ties to the first device.
  for (;;) {
    Slot* best = nullptr;
    double best_load = std::numeric_limits<double>::max();
    for (auto& slot : slots_) {
      std::lock_guard lock(slot->m);
      if (slot->has_room(options_.queue_size) && slot->load() < best_load) {
        best_load = slot->load();
        best = slot.get();
      }
    }
    if (!best) return false;
    {
      std::lock_guard lock(best->m);
      if (!best->has_room(options_.queue_size)) continue;  // filled meanwhile: choose again
      job->submitted_at = Clock::now();
      best->queue.push_back(job);
    }
    best->cv.notify_one();
    return true;
  }
}

void InferencePool::work(Slot& slot) {
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock lock(slot.m);
      slot.cv.wait(lock, [&] { return stopping_ || !slot.queue.empty(); });
      if (stopping_ && slot.queue.empty()) return;
      job = std::move(slot.queue.front());
      slot.queue.pop_front();
      slot.running.push_back(job);
    }
    run_job(slot, *job);
    {
      std::lock_guard lock(slot.m);
      slot.running.erase(std::find(slot.running.begin(), slot.running.end(), job));
    }
  }
}

void InferencePool::run_job(Slot& slot, Job& job) {
  job.mark_started();
  job.device = slot.device;
  const auto fail_cancelled = [&](CancelReason why) {
    metrics_.count_cancelled(std::string(to_string(why)));
    job.fail(ErrorKind::kCancelled, why == CancelReason::kDeadline
                                        ? "the request's deadline passed before it finished"
                                        : "the request was cancelled");
  };
  if (const CancelReason why = job.cancel_reason(); why != CancelReason::kNone) {
    fail_cancelled(why);
    return;
  }
  try {
    const auto t0 = Clock::now();
    const std::vector<float> pcm = decode_audio(
        std::span(reinterpret_cast<const uint8_t*>(job.audio.data()), job.audio.size()),
        job.audio_name, options_.max_audio_samples);
    const double decode_ms = ms_between(t0, Clock::now());
    // The upload is no longer needed; free it before the (long) transcription.
    job.audio = {};
    std::string().swap(job.audio_storage);
    TranscribeOptions opts = job.options;
    opts.cancelled = [&job] { return job.cancel_reason() != CancelReason::kNone; };
    if (job.stream_segments) {
      opts.on_segment = [&job](const Segment& s) { job.publish_segment(s); };
    }
    Result result = slot.engine->transcribe(pcm, opts);
    metrics_.add_audio_seconds(result.duration);
    metrics_.observe_stage("decode", decode_ms / 1000);
    metrics_.observe_stage("mel", result.timings.mel_ms / 1000);
    metrics_.observe_stage("encoder", result.timings.encoder_ms / 1000);
    metrics_.observe_stage("decoder", result.timings.decoder_ms / 1000);
    if (result.has_words) metrics_.observe_stage("alignment", result.timings.alignment_ms / 1000);
    metrics_.observe_stage("total", (decode_ms + result.timings.total_ms) / 1000);
    job.finish(std::move(result), decode_ms);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kCancelled) {
      fail_cancelled(job.cancel_reason());
    } else {
      job.fail(e.kind(), e.what());
    }
  } catch (const std::bad_alloc&) {
    job.fail(ErrorKind::kResourceExhausted, "out of memory while transcribing this request");
  } catch (const std::exception& e) {
    spdlog::error("transcription failed with an unexpected error: {}", e.what());
    job.fail(ErrorKind::kInternal, std::string("internal error: ") + e.what());
  }
}

std::vector<DeviceLoad> InferencePool::loads() const {
  std::vector<DeviceLoad> out;
  if (state_ != State::kReady && state_ != State::kStopped) return out;
  for (const auto& slot : slots_) {
    std::lock_guard lock(slot->m);
    DeviceLoad d;
    d.device = slot->device;
    d.name = slot->engine->info().device_name;
    d.active = int(slot->running.size());
    for (const auto& job : slot->running) d.streams += job->stream_segments ? 1 : 0;
    d.queued = int(slot->queue.size());
    d.workers = int(slot->n_workers);
    d.queue_capacity = options_.queue_size;
    out.push_back(d);
  }
  return out;
}

const ModelInfo& InferencePool::model_info() const { return slots_.front()->engine->info(); }

int InferencePool::in_flight() const {
  if (state_ != State::kReady && state_ != State::kStopped) return 0;
  int n = 0;
  for (const auto& slot : slots_) {
    std::lock_guard lock(slot->m);
    n += int(slot->queue.size() + slot->running.size());
  }
  return n;
}

void InferencePool::cancel_all(CancelReason why) {
  if (state_ != State::kReady && state_ != State::kStopped) return;
  for (const auto& slot : slots_) {
    std::lock_guard lock(slot->m);
    for (const auto& job : slot->queue) job->cancel(why);
    for (const auto& job : slot->running) job->cancel(why);
  }
}

void InferencePool::stop() {
  if (stopping_.exchange(true)) return;
  std::lock_guard lock(load_m_);
  for (auto& slot : slots_) {
    {
      std::lock_guard slot_lock(slot->m);
      for (const auto& job : slot->queue) job->cancel(CancelReason::kShutdown);
    }
    slot->cv.notify_all();
  }
  for (auto& slot : slots_) {
    for (auto& t : slot->workers) t.join();
    slot->workers.clear();
  }
  if (state_ == State::kReady) state_ = State::kStopped;
}

}  // namespace hark::server
