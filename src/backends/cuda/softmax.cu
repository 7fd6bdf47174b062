// Softmax over the last dimension, in place: one block per row, three passes over the row (max,
// sum of exp(x - max), write), fp32 throughout. -inf entries give exp(-inf) = 0; a row of only
// -inf gives NaN, as ops.h says. Rows up to a vocabulary (51,866) are read from L2 each pass.
#include "backends/cuda/common.cuh"
#include "backends/cuda/launch.h"

namespace hark::backends::cuda::detail {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void softmax_kernel(T* x, int64_t n) {
  __shared__ float scratch[32];
  T* row = x + int64_t(blockIdx.x) * n;
  float mx = -INFINITY;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) mx = fmaxf(mx, load(row + i));
  mx = block_max(mx, scratch);
  float sum = 0.0f;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) sum += expf(load(row + i) - mx);
  sum = block_sum(sum, scratch);
  const float inv = 1.0f / sum;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
    store(row + i, expf(load(row + i) - mx) * inv);
}

}  // namespace

cudaError_t launch_softmax(DType dtype, void* x, int64_t rows, int64_t n, cudaStream_t s) {
  if (rows == 0 || n == 0) return cudaSuccess;
  if (rows > 0x7fffffff) return cudaErrorInvalidConfiguration;
  return dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    softmax_kernel<<<unsigned(rows), kThreads, 0, s>>>(static_cast<T*>(x), n);
    return cudaGetLastError();
  });
}

}  // namespace hark::backends::cuda::detail
