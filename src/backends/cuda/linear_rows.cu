// Linear layers for few rows (decoder steps), and over int8 weights with fp32 per-output-channel
// scales (weight-only quantisation): y[m, n] = scale[n] * sum_k x[m, k] * w[n, k] (+ bias[n]),
// activations F32/F16/BF16, fp32 accumulation.
//
// - linear_rows_kernel (decoder steps, few rows): bandwidth-bound, so one pass over the weights
//   for all rows, in their stored type (int8: half the bytes of fp16, dequantised in registers;
//   or the activations' 16-bit type, no scale), with the bias added in the same pass. One warp
//   per output channel: each lane loads 8 weights (8 or 16 bytes) and 8 activations per row (16
//   bytes for fp16) per step, so a warp streams 256 contiguous weights at a time; R rows (a
//   template constant, 1..16) are accumulated at once so that each weight is loaded once for all
//   of them, and the k loop is unrolled so that several weight loads are in flight. Warp
//   reductions at the end, lane 0 applies the scale and bias. The activations are re-read by every
//   warp of a block and stay in L1/L2. K not a multiple of 8, or rows not 16-byte aligned: a
//   scalar loop. For 16-bit weights this replaces cuBLAS up to kDirectRows rows: one launch
//   instead of GEMM + bias kernel, at the weights' bandwidth.
//   The same kernel serves a decoder step's fused linears (RowsFusion): the layer norm before the
//   linear applied to the rows as they are read (statistics per row first, the normalised values
//   never rounded or stored), and after it the GELU, or the sum into y (a residual), or the K/V
//   columns also written into each row's caches (the q | k | v projection). Before waiting for
//   the previous kernel (programmatic launch) each warp prefetches its weight row into L2.
// - dequantize_int8_kernel (the encoder, many rows): w = q * scale into a scratch buffer of the
//   activations' dtype, 8 elements per thread with 16-byte stores; kernels.cpp then runs the
//   cuBLAS GEMM over it (tensor cores).
#include "backends/cuda/common.cuh"
#include "backends/cuda/launch.h"

namespace hark::backends::cuda::detail {
namespace {

constexpr int kWarpsPerBlock = 4;  // output channels per block

__device__ __forceinline__ void load8(const float* p, float (&v)[8]) {
  const float4 a = *reinterpret_cast<const float4*>(p);
  const float4 b = *reinterpret_cast<const float4*>(p + 4);
  v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w;
  v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
}
__device__ __forceinline__ void load8(const __half* p, float (&v)[8]) {
  const uint4 u = *reinterpret_cast<const uint4*>(p);
  const __half2* h = reinterpret_cast<const __half2*>(&u);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 f = __half22float2(h[i]);
    v[2 * i] = f.x;
    v[2 * i + 1] = f.y;
  }
}
__device__ __forceinline__ void load8(const __nv_bfloat16* p, float (&v)[8]) {
  const uint4 u = *reinterpret_cast<const uint4*>(p);
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&u);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 f = __bfloat1622float2(h[i]);
    v[2 * i] = f.x;
    v[2 * i + 1] = f.y;
  }
}
__device__ __forceinline__ void load8(const int8_t* p, float (&v)[8]) {
  const uint2 u = *reinterpret_cast<const uint2*>(p);
  const int8_t* b = reinterpret_cast<const int8_t*>(&u);
#pragma unroll
  for (int i = 0; i < 8; ++i) v[i] = float(b[i]);
}

__device__ __forceinline__ float load_one(const int8_t* p) { return float(*p); }
template <typename T>
__device__ __forceinline__ float load_one(const T* p) {
  return load(p);
}

__device__ __forceinline__ void store8(float* p, const float (&v)[8]) {
  *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
  *reinterpret_cast<float4*>(p + 4) = make_float4(v[4], v[5], v[6], v[7]);
}
__device__ __forceinline__ void store8(__half* p, const float (&v)[8]) {
  uint4 u;
  __half2* h = reinterpret_cast<__half2*>(&u);
#pragma unroll
  for (int i = 0; i < 4; ++i) h[i] = __floats2half2_rn(v[2 * i], v[2 * i + 1]);
  *reinterpret_cast<uint4*>(p) = u;
}
__device__ __forceinline__ void store8(__nv_bfloat16* p, const float (&v)[8]) {
  uint4 u;
  __nv_bfloat162* h = reinterpret_cast<__nv_bfloat162*>(&u);
#pragma unroll
  for (int i = 0; i < 4; ++i) h[i] = __floats2bfloat162_rn(v[2 * i], v[2 * i + 1]);
  *reinterpret_cast<uint4*>(p) = u;
}

// Block (32 * kWarpsPerBlock threads) b.x covers output channels [b.x * kWarpsPerBlock, ...),
// b.y rows [b.y * R, b.y * R + R). k8: the prefix of K done with 8-wide loads (0 when the
// pointers or K do not allow them). LN: the rows are layer-normed on the fly (f.gamma / f.beta,
// statistics per row computed by the block first); f.out and f.k_addr choose the epilogue.
template <typename T, typename W, int R, bool LN>
__global__ void __launch_bounds__(32 * kWarpsPerBlock)
    linear_rows_kernel(const T* __restrict__ x, const W* __restrict__ q,
                       const float* __restrict__ scale, const T* __restrict__ bias, T* y, int m,
                       int n, int k, int k8, RowsFusion f) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int col = blockIdx.x * kWarpsPerBlock + warp;
  const W* wq = q + int64_t(col) * k;
  // The weights do not depend on the previous kernel: while it finishes, pull this warp's row
  // of them into L2 (a decoder step's linears are short, and this is most of their bytes).
  if (col < n) {
    const char* p = reinterpret_cast<const char*>(wq);
    const int64_t bytes = int64_t(k) * int64_t(sizeof(W));
    for (int64_t off = int64_t(lane) * 128; off < bytes; off += 32 * 128)
      asm volatile("prefetch.global.L2 [%0];" ::"l"(p + off));
  }
  pdl_wait();
  const int row0 = blockIdx.y * R;
  const int rows = min(R, m - row0);
  const T* xr = x + int64_t(row0) * k;
  [[maybe_unused]] const T* gamma = static_cast<const T*>(f.gamma);
  [[maybe_unused]] const T* beta = static_cast<const T*>(f.beta);
  [[maybe_unused]] float mu[R], rs[R];
  if constexpr (LN) {
    // Two-pass fp32 statistics of each row (as layer_norm), one warp per row.
    __shared__ float stats[2][R];
    for (int r = warp; r < rows; r += kWarpsPerBlock) {
      const T* xx = xr + int64_t(r) * k;
      float sum = 0.0f;
      for (int i = lane; i < k; i += 32) sum += load(xx + i);
      const float mean = warp_sum(sum) / float(k);
      float sq = 0.0f;
      for (int i = lane; i < k; i += 32) {
        const float dv = load(xx + i) - mean;
        sq = fmaf(dv, dv, sq);
      }
      const float var = warp_sum(sq) / float(k);
      if (lane == 0) {
        stats[0][r] = mean;
        stats[1][r] = rsqrtf(var + f.eps);
      }
    }
    __syncthreads();
#pragma unroll
    for (int r = 0; r < R; ++r) {
      mu[r] = r < rows ? stats[0][r] : 0.0f;
      rs[r] = r < rows ? stats[1][r] : 0.0f;
    }
  }
  if (col >= n) return;  // the whole warp leaves; no block-wide synchronisation below
  float acc[R];
#pragma unroll
  for (int r = 0; r < R; ++r) acc[r] = 0.0f;
#pragma unroll 4
  for (int k0 = lane * 8; k0 < k8; k0 += 32 * 8) {
    float w[8];
    load8(wq + k0, w);
    [[maybe_unused]] float g[8], be[8];
    if constexpr (LN) {
      load8(gamma + k0, g);
      load8(beta + k0, be);
    }
#pragma unroll
    for (int r = 0; r < R; ++r) {
      if (r < rows) {
        float xv[8];
        load8(xr + int64_t(r) * k + k0, xv);
        if constexpr (LN) {
#pragma unroll
          for (int i = 0; i < 8; ++i) xv[i] = fmaf((xv[i] - mu[r]) * rs[r], g[i], be[i]);
        }
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[r] = fmaf(xv[i], w[i], acc[r]);
      }
    }
  }
  for (int kk = k8 + lane; kk < k; kk += 32) {
    const float w = load_one(wq + kk);
#pragma unroll
    for (int r = 0; r < R; ++r)
      if (r < rows) {
        float xv = load(xr + int64_t(r) * k + kk);
        if constexpr (LN) xv = fmaf((xv - mu[r]) * rs[r], load(gamma + kk), load(beta + kk));
        acc[r] = fmaf(xv, w, acc[r]);
      }
  }
  const float s = scale ? scale[col] : 1.0f;
  const float b = bias ? load(bias + col) : 0.0f;
  const int64_t kv_first = int64_t(n) - 2 * f.kv_d;  // the K block's first column (scatter)
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const float v = warp_sum(acc[r]);
    if (lane == 0 && r < rows) {
      T* dst = y + int64_t(row0 + r) * n + col;
      float o = fmaf(v, s, b);
      if (f.out == kRowsGelu)
        o = gelu_exact(o);
      else if (f.out == kRowsAdd)
        o += load(dst);
      store(dst, o);
      if (f.k_addr && col >= kv_first) {
        const int64_t gr = row0 + r, c = col - kv_first;
        const bool is_k = c < f.kv_d;
        T* cache = reinterpret_cast<T*>(is_k ? f.k_addr[gr] : f.v_addr[gr]);
        store(cache + f.positions[gr] * f.kv_d + (is_k ? c : c - f.kv_d), o);
      }
    }
  }
}

template <typename T, typename W, int R>
cudaError_t launch_rows(const T* x, const W* q, const float* scale, const T* bias, T* y, int64_t m,
                        int64_t n, int64_t k, const RowsFusion& f, cudaStream_t s) {
  const bool aligned = ((reinterpret_cast<uintptr_t>(x) & 15u) |
                        (reinterpret_cast<uintptr_t>(q) & (8 * sizeof(W) - 1))) == 0;
  const bool ln_aligned =
      !f.gamma ||
      ((reinterpret_cast<uintptr_t>(f.gamma) | reinterpret_cast<uintptr_t>(f.beta)) & 15u) == 0;
  const int64_t k8 = aligned && ln_aligned && k % 8 == 0 ? k : 0;
  const dim3 grid(unsigned((n + kWarpsPerBlock - 1) / kWarpsPerBlock), unsigned((m + R - 1) / R));
  const auto kernel =
      f.gamma ? linear_rows_kernel<T, W, R, true> : linear_rows_kernel<T, W, R, false>;
  if (const cudaError_t launch_err = launch_pdl(kernel, grid, 32 * kWarpsPerBlock, 0, s, x, q,
                                                scale, bias, y, int(m), int(n), int(k), int(k8), f);
      launch_err != cudaSuccess)
    return launch_err;
  return cudaGetLastError();
}

template <typename T, typename W>
cudaError_t launch_rows_any(const T* x, const W* q, const float* scale, const T* bias, T* y,
                            int64_t m, int64_t n, int64_t k, const RowsFusion& f, cudaStream_t s) {
  if (m == 1) return launch_rows<T, W, 1>(x, q, scale, bias, y, m, n, k, f, s);
  if (m == 2) return launch_rows<T, W, 2>(x, q, scale, bias, y, m, n, k, f, s);
  if (m <= 4) return launch_rows<T, W, 4>(x, q, scale, bias, y, m, n, k, f, s);
  if (m <= 8) return launch_rows<T, W, 8>(x, q, scale, bias, y, m, n, k, f, s);
  return launch_rows<T, W, 16>(x, q, scale, bias, y, m, n, k, f, s);
}

template <typename T>
__global__ void dequantize_int8_kernel(const int8_t* __restrict__ q,
                                       const float* __restrict__ scale, T* __restrict__ w,
                                       int64_t n, int64_t k, bool vec) {
  pdl_wait();
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t first = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (vec) {  // k % 8 == 0: a group of 8 never crosses a row
    for (int64_t g = first; g < n * k / 8; g += stride) {
      const int64_t i = g * 8;
      const float sc = scale[i / k];
      float v[8];
      load8(q + i, v);
#pragma unroll
      for (int j = 0; j < 8; ++j) v[j] *= sc;
      store8(w + i, v);
    }
    return;
  }
  for (int64_t i = first; i < n * k; i += stride) store(w + i, float(q[i]) * scale[i / k]);
}

}  // namespace

cudaError_t launch_linear_rows_fused(DType dtype, const void* x, const void* w, const float* scale,
                                     const void* bias, void* y, int64_t m, int64_t n, int64_t k,
                                     const RowsFusion& f, cudaStream_t s) {
  if (m == 0 || n == 0) return cudaSuccess;
  if (m > 0x7fffffff || n > 0x7fffffff || k > 0x7fffffff) return cudaErrorInvalidValue;
  return dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xt = static_cast<const T*>(x);
    const T* bt = static_cast<const T*>(bias);
    T* yt = static_cast<T*>(y);
    if (scale)
      return launch_rows_any<T, int8_t>(xt, static_cast<const int8_t*>(w), scale, bt, yt, m, n, k,
                                        f, s);
    return launch_rows_any<T, T>(xt, static_cast<const T*>(w), nullptr, bt, yt, m, n, k, f, s);
  });
}

cudaError_t launch_linear_int8_rows(DType dtype, const void* x, const int8_t* q, const float* scale,
                                    const void* bias, void* y, int64_t m, int64_t n, int64_t k,
                                    cudaStream_t s) {
  return launch_linear_rows_fused(dtype, x, q, scale, bias, y, m, n, k, RowsFusion{}, s);
}

cudaError_t launch_linear_rows(DType dtype, const void* x, const void* w, const void* bias, void* y,
                               int64_t m, int64_t n, int64_t k, cudaStream_t s) {
  return launch_linear_rows_fused(dtype, x, w, nullptr, bias, y, m, n, k, RowsFusion{}, s);
}

cudaError_t launch_dequantize_int8(DType dtype, const int8_t* q, const float* scale, void* w,
                                   int64_t n, int64_t k, cudaStream_t s) {
  if (n == 0 || k == 0) return cudaSuccess;
  return dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    const bool vec = k % 8 == 0 && ((reinterpret_cast<uintptr_t>(q) & 7u) |
                                    (reinterpret_cast<uintptr_t>(w) & 15u)) == 0;
    constexpr int kThreads = 256;
    if (const cudaError_t launch_err =
            launch_pdl(dequantize_int8_kernel<T>, grid_for(vec ? n * k / 8 : n * k, kThreads),
                       kThreads, 0, s, q, scale, static_cast<T*>(w), n, k, vec);
        launch_err != cudaSuccess)
      return launch_err;
    return cudaGetLastError();
  });
}

}  // namespace hark::backends::cuda::detail
