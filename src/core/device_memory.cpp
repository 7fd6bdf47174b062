#include "core/device_memory.h"

#include <array>
#include <atomic>

namespace hark {
namespace {

std::array<std::atomic<DeviceMemory*>, 2>& registry() {
  static std::array<std::atomic<DeviceMemory*>, 2> r{};
  return r;
}

}  // namespace

void register_device_memory(Device device, DeviceMemory* memory) {
  registry()[size_t(device)].store(memory);
}

DeviceMemory* device_memory(Device device) { return registry()[size_t(device)].load(); }

}  // namespace hark
