// Private to src/backends/cuda, host code compiled by the C++ compiler only (fmt does not build
// under nvcc): error checks that turn CUDA/cuBLAS failures into hark::Error, and the backend's one
// stream and cuBLAS handle.
//
// Every launch goes to stream(): one in-order stream per process (device 0). That is what makes
// the caching allocator's reuse of freed blocks safe without events: a block freed by the host
// is only handed out again for work queued behind everything that used it. Graph replays run on
// that stream too; only their recording goes to a capture stream, where nothing executes.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "core/error.h"
#include "core/tensor.h"

namespace hark::backends::cuda::detail {

// Throws hark::Error: kResourceExhausted for out-of-memory, kUnsupported for a missing driver or
// device, kInternal otherwise; the message names `what` and the CUDA error string.
[[noreturn]] void throw_cuda(cudaError_t err, const char* what);
[[noreturn]] void throw_cublas(cublasStatus_t status, const char* what);

inline void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw_cuda(err, what);
}
inline void check(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS) throw_cublas(status, what);
}

// The backend's stream and cuBLAS handle (created on first use; throw when there is no device).
// While this thread records a graph (set_capturing), they are the capture stream and a second
// cuBLAS handle bound to it (sharing the workspace), so that other threads' work keeps going to
// the main stream and is not swallowed by the capture.
cudaStream_t stream();
cublasHandle_t cublas();
// The cuBLAS workspace (shared by the cuBLAS and cuBLASLt calls: all run in stream order) and
// its size.
void* blas_workspace();
size_t blas_workspace_bytes();

// Throws Error(kUnsupported) naming `op` when `dtype` has no CUDA kernels (supports_dtype).
void require_dtype(DType dtype, const char* op);
// The current device's multiprocessor count, read once (132, an H100's, when it cannot be read).
int sm_count();

// Graph::capture's switch for the calling thread. While it is on, the caching allocator refuses
// device allocations (a graph must not bake in a block the allocator could hand out again).
void set_capturing(bool on);
bool capturing();

}  // namespace hark::backends::cuda::detail
