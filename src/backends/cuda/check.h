// Private to src/backends/cuda, host code compiled by the C++ compiler only (fmt does not build
// under nvcc): error checks that turn CUDA/cuBLAS failures into hark::Error, and the backend's one
// stream and cuBLAS handle.
//
// Every launch goes to stream(): one in-order stream per process (device 0). That is what makes
// the caching allocator's reuse of freed blocks safe without events: a block freed by the host
// is only handed out again for work queued behind everything that used it.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "core/error.h"

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
cudaStream_t stream();
cublasHandle_t cublas();

}  // namespace hark::backends::cuda::detail
