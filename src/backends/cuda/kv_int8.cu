// Int8 cross-attention K/V (ops::quantize_kv_int8, ops::dequantize_kv_int8): one fp32 scale per
// (key position, head), symmetric absmax / 127, stored head-major ([n_head, scale_ld]: a head's
// scales are contiguous, as the attention kernels read them). The quantiser is one launch over the
// K and V blocks of the fused k | v projection, one warp per (row, head, K or V); the division and
// the rounding are IEEE fp32 (__fdiv_rn, __float2int_rn: to nearest, ties to even) like the CPU's,
// so both give the same bits.
#include "backends/cuda/common.cuh"
#include "backends/cuda/launch.h"

namespace hark::backends::cuda::detail {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void __launch_bounds__(kThreads)
    quantize_kv_kernel(const T* __restrict__ kv, int64_t ld, int64_t rows, int64_t d,
                       int64_t n_head, int8_t* __restrict__ k, float* __restrict__ k_scale,
                       int8_t* __restrict__ v, float* __restrict__ v_scale, int64_t scale_ld) {
  const int lane = threadIdx.x & 31;
  const int64_t dh = d / n_head, items = rows * n_head * 2;
  const int64_t warps = int64_t(gridDim.x) * (kThreads / 32);
  for (int64_t it = int64_t(blockIdx.x) * (kThreads / 32) + (threadIdx.x >> 5); it < items;
       it += warps) {
    const int64_t t = it / (2 * n_head), rest = it % (2 * n_head);
    const bool is_v = rest >= n_head;
    const int64_t h = is_v ? rest - n_head : rest;
    const T* src = kv + t * ld + (ld - 2 * d) + (is_v ? d : 0) + h * dh;
    float mx = 0.0f;
    for (int64_t e = lane; e < dh; e += 32) mx = fmaxf(mx, fabsf(load(src + e)));
    mx = warp_max(mx);
    const float s = __fdiv_rn(mx, 127.0f);
    int8_t* dst = (is_v ? v : k) + t * d + h * dh;
    for (int64_t e = lane; e < dh; e += 32) {
      int qv = 0;
      if (s != 0.0f) qv = min(127, max(-127, __float2int_rn(__fdiv_rn(load(src + e), s))));
      dst[e] = int8_t(qv);
    }
    if (lane == 0) (is_v ? v_scale : k_scale)[h * scale_ld + t] = s;
  }
}

template <typename T>
__global__ void dequantize_kv_kernel(const int8_t* __restrict__ q, const float* __restrict__ scale,
                                     int64_t n, int64_t d, int64_t dh, int64_t scale_ld,
                                     T* __restrict__ out) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = i / d, h = (i - t * d) / dh;
    store(out + i, float(q[i]) * scale[h * scale_ld + t]);
  }
}

}  // namespace

cudaError_t launch_quantize_kv_int8(DType dtype, const void* kv, int64_t ld, int64_t rows,
                                    int64_t d, int64_t n_head, int8_t* k, float* k_scale, int8_t* v,
                                    float* v_scale, int64_t scale_ld, cudaStream_t s) {
  if (rows == 0) return cudaSuccess;
  return dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    quantize_kv_kernel<T><<<grid_for(rows * n_head * 2 * 32, kThreads), kThreads, 0, s>>>(
        static_cast<const T*>(kv), ld, rows, d, n_head, k, k_scale, v, v_scale, scale_ld);
    return cudaGetLastError();
  });
}

cudaError_t launch_dequantize_kv_int8(DType dtype, const int8_t* q, const float* scale,
                                      int64_t rows, int64_t d, int64_t n_head, int64_t scale_ld,
                                      void* out, cudaStream_t s) {
  if (rows == 0) return cudaSuccess;
  return dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    dequantize_kv_kernel<T><<<grid_for(rows * d, kThreads), kThreads, 0, s>>>(
        q, scale, rows * d, d, d / n_head, scale_ld, static_cast<T*>(out));
    return cudaGetLastError();
  });
}

}  // namespace hark::backends::cuda::detail
