// upload_async (kernels.h): small host-to-device copies that do not wait. The bytes are copied into
// one of a ring of pinned buffers and a cudaMemcpyAsync from there is queued; an event recorded
// after it tells when that buffer may be written again (the next use of a slot waits for it, which
// in a decoding loop has long happened: each step reads its picks back). Pinned sources make the
// copy truly asynchronous (a pageable one is staged by the driver first) and let a decoder step
// upload all of its metadata in one copy ahead of its graph.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <mutex>

#include "backends/cuda/check.h"
#include "backends/cuda/kernels.h"

namespace hark::backends::cuda {
namespace {

class Staging {
 public:
  void upload(void* dst, const void* src, size_t bytes) {
    std::lock_guard lock(mu_);
    Slot& slot = slots_[next_++ % slots_.size()];
    const cudaStream_t s = detail::stream();
    if (!slot.done) {
      detail::check(cudaEventCreateWithFlags(&slot.done, cudaEventDisableTiming),
                    "upload_async: cudaEventCreate");
    } else {
      detail::check(cudaEventSynchronize(slot.done), "upload_async: cudaEventSynchronize");
    }
    if (slot.capacity < bytes) {
      if (slot.host) (void)cudaFreeHost(slot.host);
      slot.host = nullptr;
      slot.capacity = 0;
      const size_t want = std::max<size_t>(bytes, size_t(64) << 10);
      detail::check(cudaMallocHost(&slot.host, want), "upload_async: cudaMallocHost");
      slot.capacity = want;
    }
    std::memcpy(slot.host, src, bytes);
    detail::check(cudaMemcpyAsync(dst, slot.host, bytes, cudaMemcpyHostToDevice, s),
                  "upload_async: cudaMemcpyAsync");
    detail::check(cudaEventRecord(slot.done, s), "upload_async: cudaEventRecord");
  }

 private:
  struct Slot {
    void* host = nullptr;
    size_t capacity = 0;
    cudaEvent_t done = nullptr;
  };
  std::mutex mu_;
  std::array<Slot, 4> slots_{};
  size_t next_ = 0;
};

}  // namespace

void upload_async(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  if (detail::capturing())
    throw Error(ErrorKind::kInternal, "upload_async inside a CUDA graph capture");
  static auto* staging = new Staging;  // never destroyed: pinned memory outlives static tensors
  staging->upload(dst, src, bytes);
}

}  // namespace hark::backends::cuda
