// The compute devices this build and machine offer, for start-up tables, /health and /gpu-status.
// Safe on machines without a GPU or driver, and in builds without CUDA (no GPUs are listed).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace hark {

struct GpuInfo {
  int index = 0;
  std::string name;
  int cc_major = 0, cc_minor = 0;
  int sm_count = 0;
  size_t memory_total = 0;  // bytes
  size_t memory_free = 0;   // bytes (0 when unknown: only the device in use is queried)
};

// True when this binary was built with the CUDA backend.
bool built_with_cuda();
// Every CUDA device the driver reports (empty without a driver, a device, or a CUDA build).
std::vector<GpuInfo> list_gpus();
// Why no GPU can be used ("this build has no CUDA backend", the driver's message); empty when one
// can.
std::string gpu_unavailable_reason();
// Bytes of device memory held by this process's tensors on the GPU in use (0 without one).
size_t gpu_memory_in_use();

}  // namespace hark
