// LayerNorm over the last dimension (and add_layer_norm: the residual add fused in front of it).
// The two-pass fp32 variance keeps a large mean from cancelling (|mean| >> std), which is what the
// CPU's double statistics guard against; fp32 two-pass is within ~1e-7 of them for Whisper's
// widths. Two shapes:
// - Fast path (every Whisper width in 16-bit, d <= 1024 in fp32): one warp per row, the row held
//   in registers as 16-byte vectors (lane i takes vectors i, i + 32, ...), so each element is read
//   from memory once and written once; warp shuffles for the sums, no shared memory, no block
//   barriers. Needs d a multiple of the vector width, d <= 256 vectors, 16-byte aligned pointers.
// - General path: one block per row, the row read three times (mean, centred variance, output).
#include "backends/cuda/common.cuh"
#include "backends/cuda/launch.h"

namespace hark::backends::cuda::detail {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void layer_norm_kernel(const T* x, const T* gamma, const T* beta, float eps, T* y,
                                  int64_t d) {
  pdl_wait();
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
  pdl_wait();
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

// 16 bytes of T.
template <typename T>
struct alignas(16) Vec {
  static constexpr int kN = int(16 / sizeof(T));
  T v[kN];
};

// One warp per row (blockDim.x = 32 * kRowsPerBlock); NV vectors per lane at most. With `h`
// (add_layer_norm) x += h + bias first, rounded to T and written back, and the statistics use the
// rounded sum, as the general kernel and the CPU do.
constexpr int kRowsPerBlock = 4;

template <typename T, int NV>
__global__ void __launch_bounds__(32 * kRowsPerBlock)
    layer_norm_warp_kernel(T* x, const T* h, const T* bias, const T* gamma, const T* beta,
                           float eps, T* y, int64_t rows, int d) {
  pdl_wait();
  using V = Vec<T>;
  constexpr int E = V::kN;
  const int lane = threadIdx.x & 31;
  const int64_t row = int64_t(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5);
  if (row >= rows) return;  // whole warps leave; no block barrier below
  const int nvec = d / E;
  V* xr = reinterpret_cast<V*>(x + row * d);
  float v[NV][E];
  V raw[NV];
#pragma unroll
  for (int i = 0; i < NV; ++i)
    if (lane + 32 * i < nvec) raw[i] = xr[lane + 32 * i];
  if (h) {
    const V* hr = reinterpret_cast<const V*>(h + row * d);
    const V* br = reinterpret_cast<const V*>(bias);
    V hv[NV];
#pragma unroll
    for (int i = 0; i < NV; ++i)
      if (lane + 32 * i < nvec) hv[i] = hr[lane + 32 * i];
#pragma unroll
    for (int i = 0; i < NV; ++i) {
      if (lane + 32 * i < nvec) {
        V bv;
        if (bias) bv = br[lane + 32 * i];
#pragma unroll
        for (int e = 0; e < E; ++e)
          store(&raw[i].v[e],
                load(&raw[i].v[e]) + (load(&hv[i].v[e]) + (bias ? load(&bv.v[e]) : 0.0f)));
        xr[lane + 32 * i] = raw[i];
      }
    }
  }
  float sum = 0.0f;
#pragma unroll
  for (int i = 0; i < NV; ++i) {
#pragma unroll
    for (int e = 0; e < E; ++e) {
      v[i][e] = lane + 32 * i < nvec ? load(&raw[i].v[e]) : 0.0f;
      sum += v[i][e];
    }
  }
  const float mean = warp_sum(sum) / float(d);
  float sq = 0.0f;
#pragma unroll
  for (int i = 0; i < NV; ++i) {
    if (lane + 32 * i < nvec) {
#pragma unroll
      for (int e = 0; e < E; ++e) {
        const float c = v[i][e] - mean;
        sq += c * c;
      }
    }
  }
  const float inv = rsqrtf(warp_sum(sq) / float(d) + eps);
  const V* gr = reinterpret_cast<const V*>(gamma);
  const V* er = reinterpret_cast<const V*>(beta);
  V* yr = reinterpret_cast<V*>(y + row * d);
#pragma unroll
  for (int i = 0; i < NV; ++i) {
    if (lane + 32 * i < nvec) {
      const V g = gr[lane + 32 * i], b = er[lane + 32 * i];
      V o;
#pragma unroll
      for (int e = 0; e < E; ++e)
        store(&o.v[e], (v[i][e] - mean) * inv * load(&g.v[e]) + load(&b.v[e]));
      yr[lane + 32 * i] = o;
    }
  }
}

// Launches the warp-per-row kernel when the shape and pointers allow it; false otherwise.
template <typename T>
bool launch_warp_rows(T* x, const T* h, const T* bias, const T* gamma, const T* beta, float eps,
                      T* y, int64_t rows, int64_t d, cudaStream_t s, cudaError_t& err) {
  constexpr int E = Vec<T>::kN;
  if (d % E != 0 || d > 256 * E) return false;
  uintptr_t bits = reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(gamma) |
                   reinterpret_cast<uintptr_t>(beta) | reinterpret_cast<uintptr_t>(y);
  if (h) bits |= reinterpret_cast<uintptr_t>(h) | reinterpret_cast<uintptr_t>(bias);
  if ((bits & 15u) != 0) return false;
  const int64_t blocks = (rows + kRowsPerBlock - 1) / kRowsPerBlock;
  if (blocks > 0x7fffffff) return false;
  const int nv = int((d / E + 31) / 32);
  const dim3 grid{unsigned(blocks)}, block{32 * kRowsPerBlock};
  const int di = int(d);
  switch (nv) {
#define HARK_LN_CASE(N)                                                                        \
  case N:                                                                                      \
    err = launch_pdl(layer_norm_warp_kernel<T, N>, grid, block, 0, s, x, h, bias, gamma, beta, \
                     eps, y, rows, di);                                                        \
    break;
    HARK_LN_CASE(1)
    HARK_LN_CASE(2)
    HARK_LN_CASE(3)
    HARK_LN_CASE(4)
    HARK_LN_CASE(5)
    HARK_LN_CASE(6)
    HARK_LN_CASE(7)
    HARK_LN_CASE(8)
#undef HARK_LN_CASE
    default: return false;
  }
  return true;
}

}  // namespace

cudaError_t launch_add_layer_norm(DType dtype, void* x, const void* h, const void* bias,
                                  const void* gamma, const void* beta, float eps, void* y,
                                  int64_t rows, int64_t d, cudaStream_t s) {
  if (rows == 0 || d == 0) return cudaSuccess;
  if (rows > 0x7fffffff) return cudaErrorInvalidConfiguration;
  return dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    cudaError_t err = cudaSuccess;
    if (launch_warp_rows<T>(static_cast<T*>(x), static_cast<const T*>(h),
                            static_cast<const T*>(bias), static_cast<const T*>(gamma),
                            static_cast<const T*>(beta), eps, static_cast<T*>(y), rows, d, s, err))
      return err;
    if (const cudaError_t launch_err = launch_pdl(
            add_layer_norm_kernel<T>, unsigned(rows), kThreads, 0, s, static_cast<T*>(x),
            static_cast<const T*>(h), static_cast<const T*>(bias), static_cast<const T*>(gamma),
            static_cast<const T*>(beta), eps, static_cast<T*>(y), d);
        launch_err != cudaSuccess)
      return launch_err;
    return cudaGetLastError();
  });
}

cudaError_t launch_layer_norm(DType dtype, const void* x, const void* gamma, const void* beta,
                              float eps, void* y, int64_t rows, int64_t d, cudaStream_t s) {
  if (rows == 0 || d == 0) return cudaSuccess;
  if (rows > 0x7fffffff) return cudaErrorInvalidConfiguration;
  return dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    cudaError_t err = cudaSuccess;
    // x is only read when h is null (the kernel writes x back only in the add form).
    if (launch_warp_rows<T>(const_cast<T*>(static_cast<const T*>(x)), nullptr, nullptr,
                            static_cast<const T*>(gamma), static_cast<const T*>(beta), eps,
                            static_cast<T*>(y), rows, d, s, err))
      return err;
    if (const cudaError_t launch_err = launch_pdl(
            layer_norm_kernel<T>, unsigned(rows), kThreads, 0, s, static_cast<const T*>(x),
            static_cast<const T*>(gamma), static_cast<const T*>(beta), eps, static_cast<T*>(y), d);
        launch_err != cudaSuccess)
      return launch_err;
    return cudaGetLastError();
  });
}

}  // namespace hark::backends::cuda::detail
