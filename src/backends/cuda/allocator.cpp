// The caching device allocator behind Tensor::zeros_on/empty_on(Device::kCuda), registered with
// core at static initialisation (no CUDA call happens until the first allocation).
//
// Sizes are rounded up (round_size) and freed blocks are kept in per-size free lists, so a forward
// pass allocates from the driver only during warm-up; the steady state makes no cudaMalloc/cudaFree
// calls (they synchronise the device). Reuse needs no events because all work runs on the backend's
// one in-order stream (check.h). A thread recording a CUDA graph may not allocate (the graph would
// keep using a block this cache hands out again). When cudaMalloc fails, cached blocks go back to
// the driver largest first, only as many as the allocation needs, with a retry after each round
// (before kResourceExhausted once none are left). Returning the whole cache at every miss made a
// nearly full GPU (large-v3 with 256 windows) give back and re-allocate tens of thousands of small
// K/V blocks over and over.
#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "backends/cuda/check.h"
#include "backends/cuda/runtime.h"
#include "core/device_memory.h"

namespace hark::backends::cuda {
namespace {

// 512 B below 1 MiB, 64 KiB below 64 MiB, 2 MiB above: at most a few per cent lost to rounding.
// (A whole MiB for every size above 1 MiB rounded a self-attention K cache of 448 x 1280 bf16
// values, 1.09 MiB, up to 2 MiB: 13 GiB wasted over large-v3's caches for 256 windows.)
size_t round_size(size_t bytes) {
  constexpr size_t kMiB = size_t(1) << 20;
  const size_t unit = bytes < kMiB ? 512 : bytes < 64 * kMiB ? 64 * 1024 : 2 * kMiB;
  return (bytes + unit - 1) / unit * unit;
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
    while (err == cudaErrorMemoryAllocation && stats_.cached > 0) {
      (void)cudaGetLastError();
      release_largest_locked(size);
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

  // Frees cached blocks, the largest sizes first, until at least `bytes` went back (or none is
  // left). The driver's free memory need not be contiguous with what it had, hence the caller's
  // retry loop.
  void release_largest_locked(size_t bytes) {
    std::vector<size_t> sizes;
    for (const auto& [size, blocks] : free_)
      if (!blocks.empty()) sizes.push_back(size);
    std::sort(sizes.begin(), sizes.end(), std::greater<>());
    size_t freed = 0;
    for (const size_t size : sizes) {
      auto& blocks = free_[size];
      while (!blocks.empty() && freed < bytes) {
        (void)cudaFree(blocks.back());
        blocks.pop_back();
        stats_.cached -= size;
        freed += size;
      }
      if (freed >= bytes) return;
    }
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
