// What every route may read: the options, the inference pool, the metrics, the start time.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "server/gpu_monitor.h"
#include "server/inference_pool.h"
#include "server/metrics.h"
#include "server/server_options.h"

namespace hark::server {

struct ServerState {
  explicit ServerState(ServerOptions o);

  ServerOptions options;
  Metrics metrics;
  InferencePool pool;
  GpuMonitor gpus;
  Clock::time_point started = Clock::now();
  std::atomic<bool> draining{false};

  // The model names /v1/models lists and requests may name: "whisper-1" and the model's own
  // (its directory or file name without extension).
  std::vector<std::string> model_ids() const;
};

}  // namespace hark::server
