// include/hark/devices.h over the CUDA backend's runtime (plain C++; no CUDA headers here).
#include "hark/devices.h"

#ifdef HARK_HAVE_CUDA
#include "backends/cuda/runtime.h"
#endif

namespace hark {

#ifdef HARK_HAVE_CUDA

bool built_with_cuda() { return true; }

std::vector<GpuInfo> list_gpus() {
  std::vector<GpuInfo> out;
  const int n = backends::cuda::device_count();
  for (int i = 0; i < n; ++i) {
    const auto p = backends::cuda::device_properties(i);
    GpuInfo g;
    g.index = i;
    g.name = p.name;
    g.cc_major = p.cc_major;
    g.cc_minor = p.cc_minor;
    g.sm_count = p.sm_count;
    g.memory_total = p.memory_total;
    g.memory_free = p.memory_free;
    out.push_back(std::move(g));
  }
  return out;
}

std::string gpu_unavailable_reason() { return backends::cuda::unavailable_reason(); }

size_t gpu_memory_in_use() {
  return backends::cuda::available() ? backends::cuda::memory_stats().in_use : 0;
}

#else

bool built_with_cuda() { return false; }
std::vector<GpuInfo> list_gpus() { return {}; }
std::string gpu_unavailable_reason() { return "this build has no CUDA backend"; }
size_t gpu_memory_in_use() { return 0; }

#endif

}  // namespace hark
