// LayerNorm over the last dimension (and add_layer_norm: the residual add fused in front of it):
// one block per row, the row read three times (mean, centred variance, output) rather than cached,
// so any width works with one launch shape. The two-pass fp32 variance keeps a large mean from
// cancelling (|mean| >> std), which is what the CPU's double statistics guard against; fp32
// two-pass is within ~1e-7 of them for Whisper's widths. Single-read variants with the row in
// registers (d <= 1280) and Welford are later work.
#include "backends/cuda/common.cuh"
#include "backends/cuda/launch.h"

namespace hark::backends::cuda::detail {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void layer_norm_kernel(const T* x, const T* gamma, const T* beta, float eps, T* y,
                                  int64_t d) {
  __shared__ float scratch[32];
  const T* row = x + int64_t(blockIdx.x) * d;
  T* out = y + int64_t(blockIdx.x) * d;
  float sum = 0.0f;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) sum += load(row + i);
  const float mean = block_sum(sum, scratch) / float(d);
  float sq = 0.0f;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    const float c = load(row + i) - mean;
    sq += c * c;
  }
  const float var = block_sum(sq, scratch) / float(d);
  const float inv = rsqrtf(var + eps);
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x)
    store(out + i, (load(row + i) - mean) * inv * load(gamma + i) + load(beta + i));
}

// x += h, then layer_norm_kernel's three passes over the rounded sum. Each thread reads back only
// the elements it wrote itself, so no barrier is needed between the add and the mean.
template <typename T>
__global__ void add_layer_norm_kernel(T* x, const T* h, const T* bias, const T* gamma,
                                      const T* beta, float eps, T* y, int64_t d) {
  __shared__ float scratch[32];
  T* row = x + int64_t(blockIdx.x) * d;
  const T* hr = h + int64_t(blockIdx.x) * d;
  T* out = y + int64_t(blockIdx.x) * d;
  float sum = 0.0f;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    store(row + i, load(row + i) + (load(hr + i) + (bias ? load(bias + i) : 0.0f)));
    sum += load(row + i);
  }
  const float mean = block_sum(sum, scratch) / float(d);
  float sq = 0.0f;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    const float c = load(row + i) - mean;
    sq += c * c;
  }
  const float var = block_sum(sq, scratch) / float(d);
  const float inv = rsqrtf(var + eps);
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x)
    store(out + i, (load(row + i) - mean) * inv * load(gamma + i) + load(beta + i));
}

}  // namespace

cudaError_t launch_add_layer_norm(DType dtype, void* x, const void* h, const void* bias,
                                  const void* gamma, const void* beta, float eps, void* y,
                                  int64_t rows, int64_t d, cudaStream_t s) {
  if (rows == 0 || d == 0) return cudaSuccess;
  if (rows > 0x7fffffff) return cudaErrorInvalidConfiguration;
  return dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    add_layer_norm_kernel<<<unsigned(rows), kThreads, 0, s>>>(
        static_cast<T*>(x), static_cast<const T*>(h), static_cast<const T*>(bias),
        static_cast<const T*>(gamma), static_cast<const T*>(beta), eps, static_cast<T*>(y), d);
    return cudaGetLastError();
  });
}

cudaError_t launch_layer_norm(DType dtype, const void* x, const void* gamma, const void* beta,
                              float eps, void* y, int64_t rows, int64_t d, cudaStream_t s) {
  if (rows == 0 || d == 0) return cudaSuccess;
  if (rows > 0x7fffffff) return cudaErrorInvalidConfiguration;
  return dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    layer_norm_kernel<<<unsigned(rows), kThreads, 0, s>>>(
        static_cast<const T*>(x), static_cast<const T*>(gamma), static_cast<const T*>(beta), eps,
        static_cast<T*>(y), d);
    return cudaGetLastError();
  });
}

}  // namespace hark::backends::cuda::detail
