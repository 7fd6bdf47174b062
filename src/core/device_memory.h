// DeviceMemory: how core reaches memory it cannot touch itself. A backend (src/backends/cuda)
// implements this interface and registers one instance per device kind at start-up; core stays
// free of vendor headers and Tensor allocates, zeroes and copies device buffers only through it.
// Without a registered backend, device tensors cannot be made (kUnsupported).
#pragma once

#include <cstddef>

#include "core/tensor.h"

namespace hark {

class DeviceMemory {
 public:
  virtual ~DeviceMemory() = default;
  // A buffer of at least `bytes` bytes (null for 0), contents undefined. Throws hark::Error
  // (kResourceExhausted when the device is full, kUnsupported when there is no device).
  virtual void* allocate(size_t bytes) = 0;
  // Returns a buffer from allocate(); `bytes` is the size asked for. Never throws.
  virtual void deallocate(void* p, size_t bytes) noexcept = 0;
  // Sets `bytes` bytes at device address p to zero.
  virtual void zero(void* p, size_t bytes) = 0;
  // Copies `bytes` bytes; each side is host memory (kCpu) or this backend's device memory.
  // Returns once the destination may be read by the host (host destination) or by later device
  // work (device destination), and once the source may be reused.
  virtual void copy(void* dst, Device dst_device, const void* src, Device src_device,
                    size_t bytes) = 0;
};

// Registers the backend for `device` (not kCpu); the object must live until the process exits.
// A later registration replaces an earlier one.
void register_device_memory(Device device, DeviceMemory* memory);
// The backend registered for `device`, or null.
DeviceMemory* device_memory(Device device);

}  // namespace hark
