// Int8 cross-attention K/V (ops::quantize_kv_int8, ops::dequantize_kv_int8): one fp32 scale per
// (key position, head), symmetric absmax / 127, stored head-major ([n_head, scale_ld]: a head's
// scales are contiguous, as the attention kernels read them). The quantiser is one launch over the
// K and V blocks of the fused k | v projection, one warp per (row, head, K or V), or for head size
// 64 in 16-bit types with 16-byte aligned rows eight lanes per (row, head, K or V), each with one
// 16-byte load and one 8-byte store (the warp-per-item form, scalar loads and byte stores, took
// 21 us per window and layer of large-v3-turbo); the division and the rounding are IEEE fp32
// (__fdiv_rn, __float2int_rn: to nearest, ties to even) like the CPU's, so all give the same bits.
#include <type_traits>

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

// One value's int8 code for scale s (0 when s is 0: an all-zero block).
__device__ __forceinline__ uint32_t code(float x, float s) {
  const int q = s != 0.0f ? min(127, max(-127, __float2int_rn(__fdiv_rn(x, s)))) : 0;
  return uint32_t(q) & 0xffu;
}

// Head size 64, T 16-bit: item = (row, K or V, head), 8 lanes each, 8 values per lane. items
// (rows * n_head * 2) and the index maths fit 32 bits (the launcher checks).
template <typename T>
__global__ void __launch_bounds__(kThreads)
    quantize_kv_h64_kernel(const T* __restrict__ kv, uint32_t ld, uint32_t items, uint32_t d,
                           uint32_t n_head, int8_t* __restrict__ k, float* __restrict__ k_scale,
                           int8_t* __restrict__ v, float* __restrict__ v_scale, uint32_t scale_ld) {
  const uint32_t sub = threadIdx.x & 7u;
  const uint32_t groups = gridDim.x * (kThreads / 8);
  for (uint32_t it = blockIdx.x * (kThreads / 8) + (threadIdx.x >> 3); it < items; it += groups) {
    const uint32_t t = it / (2 * n_head), rest = it - t * 2 * n_head;
    const bool is_v = rest >= n_head;
    const uint32_t h = is_v ? rest - n_head : rest;
    const T* src = kv + size_t(t) * ld + (ld - 2 * d) + (is_v ? d : 0) + h * 64 + sub * 8;
    const uint4 raw = *reinterpret_cast<const uint4*>(src);
    const T* vals = reinterpret_cast<const T*>(&raw);
    float x[8], mx = 0.0f;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      x[i] = load(vals + i);
      mx = fmaxf(mx, fabsf(x[i]));
    }
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 4));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    const float s = __fdiv_rn(mx, 127.0f);
    uint2 packed;
    packed.x = code(x[0], s) | code(x[1], s) << 8 | code(x[2], s) << 16 | code(x[3], s) << 24;
    packed.y = code(x[4], s) | code(x[5], s) << 8 | code(x[6], s) << 16 | code(x[7], s) << 24;
    *reinterpret_cast<uint2*>((is_v ? v : k) + size_t(t) * d + h * 64 + sub * 8) = packed;
    if (sub == 0) (is_v ? v_scale : k_scale)[size_t(h) * scale_ld + t] = s;
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
  const auto aligned = [](const void* p, uintptr_t a) {
    return reinterpret_cast<uintptr_t>(p) % a == 0;
  };
  const int64_t items = rows * n_head * 2;
  const bool h64 = dtype != DType::kF32 && d == 64 * n_head && ld % 8 == 0 && aligned(kv, 16) &&
                   aligned(k, 8) && aligned(v, 8) && items < (int64_t(1) << 31) &&
                   ld < (int64_t(1) << 31) && scale_ld < (int64_t(1) << 31);
  return dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, float>) {
      if (h64) {
        quantize_kv_h64_kernel<T><<<grid_for(items * 8, kThreads), kThreads, 0, s>>>(
            static_cast<const T*>(kv), uint32_t(ld), uint32_t(items), uint32_t(d), uint32_t(n_head),
            k, k_scale, v, v_scale, uint32_t(scale_ld));
        return cudaGetLastError();
      }
    }
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
