// Private to src/backends/cuda, for the .cu files: dtype dispatch and the small device helpers
// the kernels share (loads/stores through float, warp and block reductions). No hark::Error here
// (fmt does not build under nvcc): launchers return cudaError_t and kernels.cpp turns it into one.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "core/tensor.h"

namespace hark::backends::cuda::detail {

// Returns f(T{}) with T the element type of `dtype` (float, __half, __nv_bfloat16), or
// cudaErrorInvalidValue for any other dtype (kernels.cpp checks dtypes before launching).
template <typename F>
cudaError_t dispatch_float(DType dtype, F&& f) {
  switch (dtype) {
    case DType::kF32: return f(float{});
    case DType::kF16: return f(__half{});
    case DType::kBF16: return f(__nv_bfloat16{});
    default: return cudaErrorInvalidValue;
  }
}

__device__ __forceinline__ float load(const float* p) { return *p; }
__device__ __forceinline__ float load(const __half* p) { return __half2float(*p); }
__device__ __forceinline__ float load(const __nv_bfloat16* p) { return __bfloat162float(*p); }

__device__ __forceinline__ void store(float* p, float v) { *p = v; }
__device__ __forceinline__ void store(__half* p, float v) { *p = __float2half_rn(v); }
__device__ __forceinline__ void store(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }

// The exact (erf) GELU, as 0.5 x erfc(-x / sqrt 2) (accurate for large negative x).
__device__ __forceinline__ float gelu_exact(float v) {
  return 0.5f * v * erfcf(-v * 0.70710678118654752f);
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Block-wide sum/max for blockDim.x a multiple of 32 (at most 1024), called by every thread of
// the block; every thread gets the result. `scratch` is 32 floats of shared memory, free to reuse
// once the call returns.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < n_warps ? scratch[lane] : 0.0f;
  return warp_sum(v);
}
__device__ __forceinline__ float block_max(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < n_warps ? scratch[lane] : -INFINITY;
  return warp_max(v);
}

// Programmatic dependent launch (sm_90+). The kernels of a decoder step are small, so the
// gap between one kernel's end and the next one's start is a large part of a step. Kernels
// launched through launch_pdl may start while the previous kernel on the stream is still
// running; each such kernel calls pdl_wait() first, before touching memory: it lets the next
// kernel launch (griddepcontrol.launch_dependents) and then waits until the previous grid has
// finished and its writes are visible (griddepcontrol.wait), so the stream order is kept. On
// older devices, without the attribute, or when HARK_PDL=0, both are no-ops and the launch is an
// ordinary one.
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}

// Whether launches carry the programmatic-serialisation attribute: the current device is sm_90+
// and HARK_PDL is not "0" (decided once per process).
bool pdl_enabled();

template <typename... Params, typename... Args>
cudaError_t launch_pdl(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem,
                       cudaStream_t s, Args... args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = s;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = pdl_enabled() ? 1 : 0;
  return cudaLaunchKernelEx(&cfg, kernel, Params(args)...);
}

// Blocks for a grid-stride loop over n elements with `threads` per block.
inline unsigned grid_for(int64_t n, int threads) {
  const int64_t blocks = (n + threads - 1) / threads;
  constexpr int64_t kMax = int64_t(1) << 20;
  return unsigned(blocks < 1 ? 1 : (blocks > kMax ? kMax : blocks));
}

}  // namespace hark::backends::cuda::detail
