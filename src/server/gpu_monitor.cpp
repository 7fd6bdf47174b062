#include "server/gpu_monitor.h"

#include <dlfcn.h>

namespace hark::server {
namespace {

// NVML's C ABI (nvml.h, stable since NVML 5): only what is used here.
using NvmlDevice = void*;
struct NvmlMemory {
  unsigned long long total, free, used;
};
struct NvmlUtilization {
  unsigned int gpu, memory;
};
constexpr int kNvmlSuccess = 0;

}  // namespace

struct GpuMonitor::Nvml {
  void* lib = nullptr;
  int (*init)() = nullptr;
  int (*shutdown)() = nullptr;
  int (*handle_by_index)(unsigned int, NvmlDevice*) = nullptr;
  int (*memory_info)(NvmlDevice, NvmlMemory*) = nullptr;
  int (*utilization)(NvmlDevice, NvmlUtilization*) = nullptr;
};

namespace {

template <typename F>
bool bind(void* lib, const char* name, F& out) {
  out = reinterpret_cast<F>(dlsym(lib, name));
  return out != nullptr;
}

}  // namespace

GpuMonitor::GpuMonitor() : gpus_(list_gpus()), reason_(gpu_unavailable_reason()) {
  void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) return;
  auto n = new Nvml;
  n->lib = lib;
  const bool ok = bind(lib, "nvmlInit_v2", n->init) && bind(lib, "nvmlShutdown", n->shutdown) &&
                  bind(lib, "nvmlDeviceGetHandleByIndex_v2", n->handle_by_index) &&
                  bind(lib, "nvmlDeviceGetMemoryInfo", n->memory_info) &&
                  bind(lib, "nvmlDeviceGetUtilizationRates", n->utilization);
  if (!ok || n->init() != kNvmlSuccess) {
    dlclose(lib);
    delete n;
    return;
  }
  nvml_ = n;
}

GpuMonitor::~GpuMonitor() {
  if (!nvml_) return;
  nvml_->shutdown();
  dlclose(nvml_->lib);
  delete nvml_;
}

std::vector<GpuReading> GpuMonitor::read() const {
  std::vector<GpuReading> out;
  // Only the device in use reports free memory through the CUDA runtime.
  const std::vector<GpuInfo> now = nvml_ ? gpus_ : list_gpus();
  for (const GpuInfo& g : now) {
    GpuReading r;
    r.index = g.index;
    r.name = g.name;
    r.cc_major = g.cc_major;
    r.cc_minor = g.cc_minor;
    r.memory_total = g.memory_total;
    r.source = "none";
    NvmlDevice dev = nullptr;
    NvmlMemory mem{};
    // NVML counts devices in PCI bus order; CUDA too when CUDA_DEVICE_ORDER=PCI_BUS_ID (the
    // usual setting on multi-GPU hosts).
    if (nvml_ && nvml_->handle_by_index(unsigned(g.index), &dev) == kNvmlSuccess &&
        nvml_->memory_info(dev, &mem) == kNvmlSuccess) {
      r.memory_total = mem.total;
      r.memory_used = mem.used;
      r.source = "nvml";
      NvmlUtilization u{};
      if (nvml_->utilization(dev, &u) == kNvmlSuccess) r.utilization = int(u.gpu);
    } else if (g.memory_free > 0) {
      r.memory_used = g.memory_total - g.memory_free;
      r.source = "cuda";
    }
    out.push_back(r);
  }
  return out;
}

}  // namespace hark::server
