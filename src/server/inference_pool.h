// One engine per device, each with a bounded queue and its own worker threads. Routes never call
// an engine: they submit Jobs here and wait for the job's notifier. A full queue is refused at
// once (the caller answers 503 + Retry-After), never waited on. Cancellation reaches the engine
// through TranscribeOptions::cancelled, polled before each 30 s window.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "hark/engine.h"
#include "server/job.h"
#include "server/metrics.h"

namespace hark::server {

struct PoolOptions {
  std::vector<std::string> devices = {"auto"};  // one engine each
  EngineOptions engine;                         // model, tokenizer, threads, compute type
  int workers_per_engine = 1;                   // concurrent transcriptions per engine
  size_t queue_size = 64;                       // jobs waiting per engine (not counting running)
  int64_t max_audio_samples = 0;                // decode limit per upload (0: library default)
  int load_delay_ms = 0;                        // tests only: hold "loading" this long
};

struct DeviceLoad {
  std::string device;  // cpu | cuda:N
  std::string name;    // "NVIDIA H100 ..." or "CPU (N threads)"
  int active = 0;      // transcriptions running
  int streams = 0;     // of which stream segments (SSE)
  int queued = 0;
  int workers = 0;
  size_t queue_capacity = 0;
};

class InferencePool {
 public:
  InferencePool(PoolOptions options, Metrics& metrics);
  ~InferencePool();  // stop()

  enum class State { kLoading, kReady, kFailed, kStopped };

  // Loads every engine (blocking; call from a background thread) and starts the workers.
  // On failure the state becomes kFailed with load_error(); nothing throws.
  void load();
  State state() const { return state_.load(); }
  std::string load_error() const;

  // Places the job on the least-loaded engine's queue. False when every queue is full or the
  // pool is not ready.
  bool submit(const std::shared_ptr<Job>& job);

  std::vector<DeviceLoad> loads() const;
  // The model as loaded on the first device (valid once ready).
  const ModelInfo& model_info() const;
  int in_flight() const;  // queued + running over all engines

  // Cancels every queued and running job (shutdown after the grace period).
  void cancel_all(CancelReason why);
  // Stops the workers after their current job; queued jobs fail with kCancelled.
  void stop();

 private:
  struct Slot;
  void work(Slot& slot);
  void run_job(Slot& slot, Job& job);

  PoolOptions options_;
  Metrics& metrics_;
  std::atomic<State> state_{State::kLoading};
  mutable std::mutex load_m_;
  std::string load_error_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::atomic<bool> stopping_{false};
};

}  // namespace hark::server
