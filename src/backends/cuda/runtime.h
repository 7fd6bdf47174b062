// The CUDA runtime as the rest of hark sees it: plain C++, no CUDA headers. Every function is safe
// to call on a machine without a GPU or without a driver (available() is then false); the others
// throw hark::Error (kUnsupported) there instead of aborting.
#pragma once

#include <cstddef>
#include <string>

namespace hark::backends::cuda {

// True when a CUDA device can be used (driver present, at least one device).
bool available();
// Why no device can be used ("no CUDA driver", "no CUDA device"); empty when one can.
std::string unavailable_reason();
// Chooses the device this process's backend uses (default 0). Must come before the first use of
// the backend; afterwards only the same index is accepted. Throws Error(kUnsupported) for an index
// outside [0, device_count()).
void select_device(int index);
// The device in use (or to be used).
int current_device();

struct DeviceProperties {
  std::string name;
  int cc_major = 0, cc_minor = 0;
  int sm_count = 0;
  size_t memory_total = 0;  // bytes
  size_t memory_free = 0;   // bytes, from cudaMemGetInfo (all processes)
};
// Properties of device `index`; throws Error(kUnsupported) when it does not exist.
DeviceProperties device_properties(int index);
// Number of usable devices (0 without driver or device).
int device_count();
// One line for logs: "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB, CUDA runtime 13.0)".
std::string device_description();
// Blocks until all work queued by this backend has finished; surfaces asynchronous kernel errors
// as hark::Error (kInternal).
void synchronize();

// Device time between two points of the backend's stream, without waiting at either: start() and
// stop() record events there; elapsed_ms() waits for the stop event (by then usually long past)
// and returns the milliseconds between the two. 0 when start() or stop() was not called.
class StreamTimer {
 public:
  StreamTimer() = default;
  ~StreamTimer();
  StreamTimer(const StreamTimer&) = delete;
  StreamTimer& operator=(const StreamTimer&) = delete;
  void start();
  void stop();
  double elapsed_ms();

 private:
  void* start_ = nullptr;  // cudaEvent_t
  void* stop_ = nullptr;
};

struct MemoryStats {
  size_t in_use = 0;  // bytes held by live tensors (rounded to the allocator's block sizes)
  size_t cached = 0;  // bytes freed by tensors and kept for reuse
  size_t peak = 0;    // largest in_use seen
};
MemoryStats memory_stats();
// Returns the cached blocks to the driver.
void release_cached_memory();
// Starts a new high-water mark at the bytes in use now.
void reset_peak_memory();

}  // namespace hark::backends::cuda
