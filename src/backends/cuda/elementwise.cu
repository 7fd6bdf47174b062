// Elementwise kernels: gelu (exact erf form, computed as 0.5 x erfc(-x / sqrt 2) so that the
// negative tail keeps its relative precision), x += y, row and channel broadcasts of a bias.
// Memory-bound, one grid-stride loop each; values go through fp32 for every dtype. Vectorised
// loads and fusion into the GEMM epilogues are later work.
#include "backends/cuda/common.cuh"
#include "backends/cuda/launch.h"

namespace hark::backends::cuda::detail {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void gelu_kernel(T* x, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float v = load(x + i);
    store(x + i, 0.5f * v * erfcf(-v * 0.70710678118654752f));
  }
}

template <typename T>
__global__ void add_kernel(T* x, const T* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    store(x + i, load(x + i) + load(y + i));
}

// bias index = (i / div) % mod: rows (div 1, mod d) or channels (div len, mod channels).
template <typename T>
__global__ void add_broadcast_kernel(T* x, const T* bias, int64_t n, int64_t div, int64_t mod) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    store(x + i, load(x + i) + load(bias + (i / div) % mod));
}

}  // namespace

cudaError_t launch_gelu(DType dtype, void* x, int64_t n, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  return dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    gelu_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(static_cast<T*>(x), n);
    return cudaGetLastError();
  });
}

cudaError_t launch_add(DType dtype, void* x, const void* y, int64_t n, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  return dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    add_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(static_cast<T*>(x),
                                                          static_cast<const T*>(y), n);
    return cudaGetLastError();
  });
}

cudaError_t launch_add_rows(DType dtype, void* x, const void* row, int64_t rows, int64_t d,
                            cudaStream_t s) {
  const int64_t n = rows * d;
  if (n == 0) return cudaSuccess;
  return dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    add_broadcast_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(
        static_cast<T*>(x), static_cast<const T*>(row), n, int64_t(1), d);
    return cudaGetLastError();
  });
}

cudaError_t launch_add_channel_bias(DType dtype, void* x, const void* bias, int64_t channels,
                                    int64_t len, cudaStream_t s) {
  const int64_t n = channels * len;
  if (n == 0) return cudaSuccess;
  return dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    add_broadcast_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(
        static_cast<T*>(x), static_cast<const T*>(bias), n, len, channels);
    return cudaGetLastError();
  });
}

}  // namespace hark::backends::cuda::detail
