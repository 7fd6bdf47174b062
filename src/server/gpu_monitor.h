// GPU memory and utilisation for /gpu-status, /metrics and the start-up table: NVML loaded at run
// time (dlopen("libnvidia-ml.so.1"); there is no nvml.h on these machines, so the few prototypes
// are declared here), else what hark/devices.h knows (cudaMemGetInfo of the device in use).
// Safe without a driver: every query then answers "unknown".
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "hark/devices.h"

namespace hark::server {

struct GpuReading {
  int index = 0;
  std::string name;
  int cc_major = 0, cc_minor = 0;
  size_t memory_total = 0;            // bytes
  std::optional<size_t> memory_used;  // bytes, device-wide
  std::optional<int> utilization;     // percent (NVML only)
  std::string source;                 // "nvml", "cuda" or "none"
};

class GpuMonitor {
 public:
  GpuMonitor();  // loads NVML when present
  ~GpuMonitor();
  GpuMonitor(const GpuMonitor&) = delete;
  GpuMonitor& operator=(const GpuMonitor&) = delete;

  bool has_nvml() const { return nvml_ != nullptr; }
  // Every GPU the CUDA runtime lists, with current memory figures.
  std::vector<GpuReading> read() const;
  // The GPUs as listed once at start-up (name, compute capability, total memory).
  const std::vector<GpuInfo>& gpus() const { return gpus_; }
  // Why no GPU can be used; empty when one can.
  const std::string& unavailable_reason() const { return reason_; }

 private:
  struct Nvml;
  Nvml* nvml_ = nullptr;
  std::vector<GpuInfo> gpus_;
  std::string reason_;
};

}  // namespace hark::server
