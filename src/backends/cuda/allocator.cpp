// The caching device allocator behind Tensor::zeros_on/empty_on(Device::kCuda), registered with
// core at static initialisation (no CUDA call happens until the first allocation).
//
// Sizes are rounded up (512 B below 1 MiB, 1 MiB above) and freed blocks are kept in per-size
// free lists, so a forward pass allocates from the driver only during warm-up; the steady state
// makes no cudaMalloc/cudaFree calls (they synchronise the device). Reuse needs no events because
// all work runs on the backend's one in-order stream (check.h). A thread recording a CUDA graph
// may not allocate (the graph would keep using a block this cache hands out again). When
// cudaMalloc fails, the cache is returned to the driver and the allocation retried once before
// kResourceExhausted.
#include <fmt/format.h>

#include <mutex>
#include <unordered_map>
#include <vector>

#include "backends/cuda/check.h"
#include "backends/cuda/runtime.h"
#include "core/device_memory.h"

namespace hark::backends::cuda {
namespace {

size_t round_size(size_t bytes) {
  constexpr size_t kSmall = 512, kLarge = size_t(1) << 20;
  return bytes < kLarge ? (bytes + kSmall - 1) / kSmall * kSmall
                        : (bytes + kLarge - 1) / kLarge * kLarge;
}

// Page-locked (cudaHostAlloc'd or registered) host memory, which a copy reads asynchronously.
bool is_pinned(const void* p) {
  cudaPointerAttributes a{};
  if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
    (void)cudaGetLastError();
    return true;  // unknown: treat as pinned, i.e. wait for the copy
  }
  return a.type == cudaMemoryTypeHost;
}

class CachingAllocator final : public DeviceMemory {
 public:
  void* allocate(size_t bytes) override {
    if (bytes == 0) return nullptr;
    const size_t size = round_size(bytes);
    if (detail::capturing())
      throw Error(ErrorKind::kInternal,
                  fmt::format("device allocation of {} bytes while recording a CUDA graph", size));
    std::lock_guard lock(mu_);
    if (auto it = free_.find(size); it != free_.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      stats_.cached -= size;
      note_in_use(size);
      return p;
    }
    (void)detail::stream();  // creates the context; throws kUnsupported without a device
    void* p = nullptr;
    cudaError_t err = cudaMalloc(&p, size);
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      release_locked();
      err = cudaMalloc(&p, size);
    }
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      detail::throw_cuda(
          err, fmt::format("cudaMalloc({} bytes; {} in use)", size, stats_.in_use).c_str());
    }
    note_in_use(size);
    return p;
  }

  void deallocate(void* p, size_t bytes) noexcept override {
    if (!p) return;
    const size_t size = round_size(bytes);
    std::lock_guard lock(mu_);
    try {
      free_[size].push_back(p);
      stats_.cached += size;
    } catch (...) {
      (void)cudaFree(p);  // no memory for the free list: give the block back instead
    }
    stats_.in_use -= size;
  }

  void zero(void* p, size_t bytes) override {
    detail::check(cudaMemsetAsync(p, 0, bytes, detail::stream()), "cudaMemsetAsync");
  }

  void copy(void* dst, Device dst_device, const void* src, Device src_device,
            size_t bytes) override {
    const bool to_host = dst_device == Device::kCpu, from_host = src_device == Device::kCpu;
    const cudaMemcpyKind kind =
        to_host ? (from_host ? cudaMemcpyHostToHost : cudaMemcpyDeviceToHost)
                : (from_host ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToDevice);
    cudaStream_t s = detail::stream();
    detail::check(cudaMemcpyAsync(dst, src, bytes, kind, s), "cudaMemcpyAsync");
    // A host destination is only valid once the stream has drained. A pageable host source has
    // been staged when cudaMemcpyAsync returns, so the caller may reuse it at once and the host
    // goes on queueing work (e.g. the log-mel of the PCM just uploaded) while the copy runs; a
    // pinned one is read by the copy itself, later, so that copy is waited for.
    if (to_host || (from_host && is_pinned(src)))
      detail::check(cudaStreamSynchronize(s), "copy: cudaStreamSynchronize");
  }

  MemoryStats stats() {
    std::lock_guard lock(mu_);
    return stats_;
  }

  void release() {
    std::lock_guard lock(mu_);
    release_locked();
  }

  void reset_peak() {
    std::lock_guard lock(mu_);
    stats_.peak = stats_.in_use;
  }

 private:
  void note_in_use(size_t size) {
    stats_.in_use += size;
    if (stats_.in_use > stats_.peak) stats_.peak = stats_.in_use;
  }

  void release_locked() {
    for (auto& [size, blocks] : free_) {
      for (void* p : blocks) (void)cudaFree(p);
      stats_.cached -= size * blocks.size();
      blocks.clear();
    }
  }

  std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  MemoryStats stats_;
};

// Never destroyed: tensors held in statics may be freed after main returns.
CachingAllocator& allocator() {
  static auto* a = new CachingAllocator;
  return *a;
}

[[maybe_unused]] const bool kRegistered = [] {
  register_device_memory(Device::kCuda, &allocator());
  return true;
}();

}  // namespace

MemoryStats memory_stats() { return allocator().stats(); }
void release_cached_memory() { allocator().release(); }
void reset_peak_memory() { allocator().reset_peak(); }

}  // namespace hark::backends::cuda
