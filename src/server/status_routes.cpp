#include "server/status_routes.h"

#include <fmt/format.h>

#include <unistd.h>
#include <fstream>
#include <nlohmann/json.hpp>

namespace hark::server {
namespace {

bool gpu_available(const ServerState& s) {
  return !s.gpus.gpus().empty() && s.gpus.unavailable_reason().empty();
}

Response health(const ServerState& s) {
  const auto state = s.pool.state();
  nlohmann::json body = {{"model", s.options.engine.model_path},
                         {"gpu_available", gpu_available(s)}};
  int status = 200;
  if (state == InferencePool::State::kReady && !s.draining) {
    const ModelInfo& info = s.pool.model_info();
    body["status"] = "healthy";
    body["device"] = fmt::format("{} ({})", info.device, info.device_name);
    body["model_size"] = info.size_name;
    body["compute_type"] = info.compute_type;
  } else {
    status = 503;
    body["device"] = nullptr;
    if (state == InferencePool::State::kLoading) {
      body["status"] = "loading";
    } else if (state == InferencePool::State::kFailed) {
      body["status"] = "error";
      body["error"] = s.pool.load_error();
    } else {
      body["status"] = "draining";
    }
  }
  body["uptime_seconds"] = std::chrono::duration<double>(Clock::now() - s.started).count();
  Response r = Response::json(status, body.dump());
  if (status == 503) r.headers.emplace_back("Retry-After", "1");
  return r;
}

// The resident set size of this process, in bytes (0 when /proc is not there).
size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  size_t pages = 0, resident = 0;
  if (!(statm >> pages >> resident)) return 0;
  return resident * size_t(sysconf(_SC_PAGESIZE));
}

nlohmann::json device_json(const DeviceLoad& d, const std::vector<GpuReading>& gpus) {
  nlohmann::json j = {{"device", d.device},
                      {"name", d.name},
                      {"active_requests", d.active},
                      {"active_streams", d.streams},
                      {"queued_requests", d.queued},
                      {"capacity",
                       {{"concurrent", d.workers},
                        {"queue", d.queue_capacity},
                        {"total", d.workers + d.queue_capacity}}}};
  j["memory_used_bytes"] = nullptr;
  j["memory_total_bytes"] = nullptr;
  j["memory_source"] = "none";
  if (d.device.rfind("cuda:", 0) == 0) {
    const int index = std::atoi(d.device.c_str() + 5);
    for (const GpuReading& g : gpus) {
      if (g.index != index) continue;
      j["memory_total_bytes"] = g.memory_total;
      if (g.memory_used) j["memory_used_bytes"] = *g.memory_used;
      j["memory_source"] = g.source;
      j["compute_capability"] = fmt::format("{}.{}", g.cc_major, g.cc_minor);
      if (g.utilization) j["utilization_percent"] = *g.utilization;
    }
  } else {
    j["memory_used_bytes"] = resident_bytes();  // host memory of this process
    j["memory_source"] = "process_rss";
  }
  return j;
}

Response gpu_status(const ServerState& s) {
  const std::vector<GpuReading> gpus = s.gpus.read();
  nlohmann::json devices = nlohmann::json::array();
  for (const DeviceLoad& d : s.pool.loads()) devices.push_back(device_json(d, gpus));
  nlohmann::json gpu_list = nlohmann::json::array();
  for (const GpuReading& g : gpus) {
    nlohmann::json j = {{"index", g.index},
                        {"name", g.name},
                        {"compute_capability", fmt::format("{}.{}", g.cc_major, g.cc_minor)},
                        {"memory_total_bytes", g.memory_total},
                        {"memory_source", g.source}};
    j["memory_used_bytes"] = g.memory_used ? nlohmann::json(*g.memory_used) : nullptr;
    j["utilization_percent"] = g.utilization ? nlohmann::json(*g.utilization) : nullptr;
    gpu_list.push_back(std::move(j));
  }
  nlohmann::json body = {
      {"total_gpus", gpus.size()}, {"gpu_available", gpu_available(s)},
      {"nvml", s.gpus.has_nvml()}, {"model_loaded", s.pool.state() == InferencePool::State::kReady},
      {"devices", devices},        {"gpus", gpu_list}};
  if (!gpu_available(s)) body["gpu_unavailable_reason"] = s.gpus.unavailable_reason();
  return Response::json(200, body.dump());
}

Response metrics(const ServerState& s) {
  std::vector<Gauge> g;
  const auto loads = s.pool.loads();
  for (const DeviceLoad& d : loads) {
    g.push_back({"hark_queue_depth", fmt::format("device=\"{}\"", d.device), double(d.queued),
                 "Requests waiting in the device's queue."});
  }
  for (const DeviceLoad& d : loads) {
    g.push_back({"hark_active_requests", fmt::format("device=\"{}\"", d.device), double(d.active),
                 "Transcriptions running on the device."});
  }
  for (const DeviceLoad& d : loads) {
    g.push_back({"hark_active_streams", fmt::format("device=\"{}\"", d.device), double(d.streams),
                 "Streaming (SSE) transcriptions running on the device."});
  }
  for (const GpuReading& r : s.gpus.read()) {
    if (!r.memory_used) continue;
    g.push_back({"hark_gpu_memory_used_bytes", fmt::format("gpu=\"{}\"", r.index),
                 double(*r.memory_used), "Device memory in use (NVML or cudaMemGetInfo)."});
  }
  g.push_back({"hark_gpu_memory_in_use_bytes", "", double(gpu_memory_in_use()),
               "Device memory held by this process's tensors."});
  g.push_back({"hark_model_loaded", "", s.pool.state() == InferencePool::State::kReady ? 1.0 : 0.0,
               "1 once the model is loaded and requests are served."});
  g.push_back({"hark_resident_memory_bytes", "", double(resident_bytes()),
               "Resident set size of the server process."});
  return Response::text(200, s.metrics.render(g), "text/plain; version=0.0.4; charset=utf-8");
}

}  // namespace

void add_status_routes(Router& router, ServerState& state) {
  router.add({"GET", "/health", "Liveness and readiness: 200 when serving, 503 while loading",
              false, false, [&state](Request&) -> Reply { return health(state); }});
  router.add({"GET", "/gpu-status", "Per-device load, capacity and memory", true, false,
              [&state](Request&) -> Reply { return gpu_status(state); }});
  router.add({"GET", "/metrics", "Prometheus metrics", true, false,
              [&state](Request&) -> Reply { return metrics(state); }});
}

}  // namespace hark::server
