// Elementwise kernels: gelu and bias + gelu (exact erf form, computed as 0.5 x erfc(-x / sqrt 2) so
// that the negative tail keeps its relative precision), x += y, row and channel broadcasts of a
// bias. Memory-bound; values go through fp32 for every dtype. gelu and add take two 16-bit elements
// per 32-bit access when the buffer allows it; the row broadcast (every linear's bias) runs one
// block row per matrix row, so no element needs a 64-bit division to find its bias. Fusion into
// the GEMM epilogues is later work.
#include <algorithm>
#include <type_traits>

#include "backends/cuda/common.cuh"
#include "backends/cuda/launch.h"

namespace hark::backends::cuda::detail {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void gelu_kernel(T* x, int64_t n) {
  pdl_wait();
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float v = load(x + i);
    store(x + i, 0.5f * v * erfcf(-v * 0.70710678118654752f));
  }
}

template <typename T>
__global__ void add_kernel(T* x, const T* y, int64_t n) {
  pdl_wait();
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    store(x + i, load(x + i) + load(y + i));
}

template <typename T>
struct Pair;
template <>
struct Pair<__half> {
  using type = __half2;
  static __device__ float2 load(const __half2* p) { return __half22float2(*p); }
  static __device__ void store(__half2* p, float2 v) { *p = __float22half2_rn(v); }
};
template <>
struct Pair<__nv_bfloat16> {
  using type = __nv_bfloat162;
  static __device__ float2 load(const __nv_bfloat162* p) { return __bfloat1622float2(*p); }
  static __device__ void store(__nv_bfloat162* p, float2 v) { *p = __float22bfloat162_rn(v); }
};

// n2 pairs of 16-bit values.
template <typename T>
__global__ void gelu2_kernel(typename Pair<T>::type* x, int64_t n2) {
  pdl_wait();
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n2;
       i += int64_t(gridDim.x) * blockDim.x) {
    float2 v = Pair<T>::load(x + i);
    v.x = gelu_exact(v.x);
    v.y = gelu_exact(v.y);
    Pair<T>::store(x + i, v);
  }
}

template <typename T>
__global__ void add2_kernel(typename Pair<T>::type* x, const typename Pair<T>::type* y,
                            int64_t n2) {
  pdl_wait();
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n2;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float2 a = Pair<T>::load(x + i), b = Pair<T>::load(y + i);
    Pair<T>::store(x + i, make_float2(a.x + b.x, a.y + b.y));
  }
}

// x[r, c] = gelu(x[r, c] + bias[c]) in groups of V consecutive elements: V = 16 / sizeof(T)
// (one 16-byte load of x and of the bias per group) when d is a multiple of V and both pointers
// are 16-byte aligned, else V = 1. blockIdx.y strides over rows, threads over the groups.
template <typename T, int V>
struct alignas(V * sizeof(T)) Group {
  T v[V];
};

template <typename T, int V>
__global__ void bias_gelu_kernel(T* x, const T* bias, int64_t rows, int64_t d) {
  pdl_wait();
  const int64_t groups = d / V;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    Group<T, V>* xr = reinterpret_cast<Group<T, V>*>(x + r * d);
    const Group<T, V>* br = reinterpret_cast<const Group<T, V>*>(bias);
    for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < groups;
         c += int64_t(gridDim.x) * blockDim.x) {
      Group<T, V> xv = xr[c];
      const Group<T, V> bv = br[c];
#pragma unroll
      for (int e = 0; e < V; ++e) store(&xv.v[e], gelu_exact(load(&xv.v[e]) + load(&bv.v[e])));
      xr[c] = xv;
    }
  }
}

// x[r, c] += row[c] in groups of V (as bias_gelu_kernel).
template <typename T, int V>
__global__ void add_rows_vec_kernel(T* x, const T* row, int64_t rows, int64_t d) {
  pdl_wait();
  const int64_t groups = d / V;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    Group<T, V>* xr = reinterpret_cast<Group<T, V>*>(x + r * d);
    const Group<T, V>* br = reinterpret_cast<const Group<T, V>*>(row);
    for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < groups;
         c += int64_t(gridDim.x) * blockDim.x) {
      Group<T, V> xv = xr[c];
      const Group<T, V> bv = br[c];
#pragma unroll
      for (int e = 0; e < V; ++e) store(&xv.v[e], load(&xv.v[e]) + load(&bv.v[e]));
      xr[c] = xv;
    }
  }
}

// x[r, c] += row[c]: blockIdx.y strides over rows, threads over columns.
template <typename T>
__global__ void add_rows_kernel(T* x, const T* row, int64_t rows, int64_t d) {
  pdl_wait();
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    T* xr = x + r * d;
    for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < d;
         c += int64_t(gridDim.x) * blockDim.x)
      store(xr + c, load(xr + c) + load(row + c));
  }
}

// bias index = (i / div) % mod: channels (div len, mod channels).
template <typename T>
__global__ void add_broadcast_kernel(T* x, const T* bias, int64_t n, int64_t div, int64_t mod) {
  pdl_wait();
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    store(x + i, load(x + i) + load(bias + (i / div) % mod));
}

}  // namespace

cudaError_t launch_gelu(DType dtype, void* x, int64_t n, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  return dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, float>) {
      if (n % 2 == 0 && (reinterpret_cast<uintptr_t>(x) & 3u) == 0) {
        if (const cudaError_t launch_err =
                launch_pdl(gelu2_kernel<T>, grid_for(n / 2, kThreads), kThreads, 0, s,
                           static_cast<typename Pair<T>::type*>(x), n / 2);
            launch_err != cudaSuccess)
          return launch_err;
        return cudaGetLastError();
      }
    }
    if (const cudaError_t launch_err = launch_pdl(gelu_kernel<T>, grid_for(n, kThreads), kThreads,
                                                  0, s, static_cast<T*>(x), n);
        launch_err != cudaSuccess)
      return launch_err;
    return cudaGetLastError();
  });
}

cudaError_t launch_bias_gelu(DType dtype, void* x, const void* bias, int64_t rows, int64_t d,
                             cudaStream_t s) {
  if (rows == 0 || d == 0) return cudaSuccess;
  return dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    constexpr int V = int(16 / sizeof(T));
    const bool vec =
        d % V == 0 &&
        ((reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(bias)) & 15u) == 0;
    const int64_t groups = vec ? d / V : d;
    const unsigned gx = unsigned(std::min<int64_t>((groups + kThreads - 1) / kThreads, 65535));
    const unsigned gy = unsigned(rows < 65535 ? rows : 65535);
    if (vec) {
      if (const cudaError_t launch_err =
              launch_pdl(bias_gelu_kernel<T, V>, dim3(gx, gy), kThreads, 0, s, static_cast<T*>(x),
                         static_cast<const T*>(bias), rows, d);
          launch_err != cudaSuccess)
        return launch_err;
    } else {
      if (const cudaError_t launch_err =
              launch_pdl(bias_gelu_kernel<T, 1>, dim3(gx, gy), kThreads, 0, s, static_cast<T*>(x),
                         static_cast<const T*>(bias), rows, d);
          launch_err != cudaSuccess)
        return launch_err;
    }
    return cudaGetLastError();
  });
}

cudaError_t launch_add(DType dtype, void* x, const void* y, int64_t n, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  return dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, float>) {
      if (n % 2 == 0 &&
          ((reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(y)) & 3u) == 0) {
        if (const cudaError_t launch_err =
                launch_pdl(add2_kernel<T>, grid_for(n / 2, kThreads), kThreads, 0, s,
                           static_cast<typename Pair<T>::type*>(x),
                           static_cast<const typename Pair<T>::type*>(y), n / 2);
            launch_err != cudaSuccess)
          return launch_err;
        return cudaGetLastError();
      }
    }
    if (const cudaError_t launch_err =
            launch_pdl(add_kernel<T>, grid_for(n, kThreads), kThreads, 0, s, static_cast<T*>(x),
                       static_cast<const T*>(y), n);
        launch_err != cudaSuccess)
      return launch_err;
    return cudaGetLastError();
  });
}

cudaError_t launch_add_rows(DType dtype, void* x, const void* row, int64_t rows, int64_t d,
                            cudaStream_t s) {
  const int64_t n = rows * d;
  if (n == 0) return cudaSuccess;
  return dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    constexpr int V = int(16 / sizeof(T));
    const unsigned gy = unsigned(rows < 65535 ? rows : 65535);
    if (d % V == 0 &&
        ((reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(row)) & 15u) == 0) {
      const int64_t groups = d / V;
      const unsigned gx = unsigned(std::min<int64_t>((groups + kThreads - 1) / kThreads, 65535));
      if (const cudaError_t launch_err =
              launch_pdl(add_rows_vec_kernel<T, V>, dim3(gx, gy), kThreads, 0, s,
                         static_cast<T*>(x), static_cast<const T*>(row), rows, d);
          launch_err != cudaSuccess)
        return launch_err;
      return cudaGetLastError();
    }
    const unsigned gx = unsigned((d + kThreads - 1) / kThreads);
    if (const cudaError_t launch_err =
            launch_pdl(add_rows_kernel<T>, dim3(gx, gy), kThreads, 0, s, static_cast<T*>(x),
                       static_cast<const T*>(row), rows, d);
        launch_err != cudaSuccess)
      return launch_err;
    return cudaGetLastError();
  });
}

cudaError_t launch_add_channel_bias(DType dtype, void* x, const void* bias, int64_t channels,
                                    int64_t len, cudaStream_t s) {
  const int64_t n = channels * len;
  if (n == 0) return cudaSuccess;
  return dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    if (const cudaError_t launch_err =
            launch_pdl(add_broadcast_kernel<T>, grid_for(n, kThreads), kThreads, 0, s,
                       static_cast<T*>(x), static_cast<const T*>(bias), n, len, channels);
        launch_err != cudaSuccess)
      return launch_err;
    return cudaGetLastError();
  });
}

}  // namespace hark::backends::cuda::detail
