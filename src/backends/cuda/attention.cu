// Multi-head attention, the straightforward correct version: one block of 128 threads per
// (query row, head). The scaled query sits in shared memory; each warp takes keys in turn and
// reduces the dot product across its lanes (coalesced reads of the key row); the Tk scores stay in
// shared memory for an exact softmax (max, exp, sum in fp32); then each thread owns one output
// feature for a slice of the keys (coalesced reads of value rows) and the slices are summed.
// Masked keys (j > i + causal_offset) are never read and get weight 0.
//
// Shared memory is (head_dim + Tk + 128) floats: Tk = 1500 needs 6.8 KB; past 48 KB (Tk > ~11k)
// the launch raises the kernel's dynamic limit. Every key and value row is re-read from L2 by each
// query block; a tiled flash-attention kernel (K/V tiles shared by a block of queries, online
// softmax, tensor cores) replaces this for speed.
#include "backends/cuda/common.cuh"
#include "backends/cuda/launch.h"

namespace hark::backends::cuda::detail {
namespace {

constexpr int kThreads = 128;

template <typename T>
__global__ void __launch_bounds__(kThreads)
    attention_kernel(const T* q, const T* k, const T* v, AttentionDims d, float scale, T* out,
                     T* weights) {
  extern __shared__ float smem[];
  __shared__ float scratch[32];
  const int64_t i = blockIdx.x, h = blockIdx.y;
  const int dh = int(d.head_dim), tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  float* qs = smem;        // [dh]
  float* p = qs + dh;      // [tk]
  float* part = p + d.tk;  // [kThreads]
  const int64_t n = d.causal_offset < 0 ? d.tk : min(d.tk, i + d.causal_offset + 1);

  const T* qi = q + i * d.ld_q + h * dh;
  for (int e = tid; e < dh; e += kThreads) qs[e] = load(qi + e) * scale;
  __syncthreads();
  for (int64_t j = warp; j < n; j += kThreads / 32) {
    const T* kj = k + j * d.ld_k + h * dh;
    float dot = 0.0f;
    for (int e = lane; e < dh; e += 32) dot += qs[e] * load(kj + e);
    dot = warp_sum(dot);
    if (lane == 0) p[j] = dot;
  }
  __syncthreads();

  float mx = -INFINITY;
  for (int64_t j = tid; j < n; j += kThreads) mx = fmaxf(mx, p[j]);
  mx = block_max(mx, scratch);
  float sum = 0.0f;
  for (int64_t j = tid; j < n; j += kThreads) {
    const float e = expf(p[j] - mx);
    p[j] = e;
    sum += e;
  }
  const float inv = 1.0f / block_sum(sum, scratch);  // its barriers publish p[]

  if (weights) {
    T* w = weights + (h * d.tq + i) * d.tk;
    for (int64_t j = tid; j < d.tk; j += kThreads) store(w + j, j < n ? p[j] * inv : 0.0f);
  }
  T* oi = out + i * d.ld_out + h * dh;
  const T* vh = v + h * dh;
  if (dh <= kThreads) {
    const int groups = kThreads / dh, e = tid % dh, g = tid / dh;
    if (g < groups) {
      float acc = 0.0f;
      for (int64_t j = g; j < n; j += groups) acc += p[j] * load(vh + j * d.ld_v + e);
      part[tid] = acc;
    }
    __syncthreads();
    if (tid < dh) {
      float acc = 0.0f;
      for (int s = 0; s < groups; ++s) acc += part[s * dh + tid];
      store(oi + tid, acc * inv);
    }
  } else {
    for (int e = tid; e < dh; e += kThreads) {
      float acc = 0.0f;
      for (int64_t j = 0; j < n; ++j) acc += p[j] * load(vh + j * d.ld_v + e);
      store(oi + e, acc * inv);
    }
  }
}

}  // namespace

cudaError_t launch_attention(DType dtype, const void* q, const void* k, const void* v,
                             const AttentionDims& d, void* out, void* weights, cudaStream_t s) {
  if (d.tq == 0) return cudaSuccess;
  if (d.tq > 0x7fffffff || d.n_head > 65535) return cudaErrorInvalidConfiguration;
  const size_t smem = size_t(d.head_dim + d.tk + kThreads) * sizeof(float);
  const float scale = float(1.0 / sqrt(double(d.head_dim)));
  return dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    if (smem > 48 * 1024) {
      const cudaError_t err = cudaFuncSetAttribute(
          attention_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
      if (err != cudaSuccess) return err;
    }
    attention_kernel<T><<<dim3(unsigned(d.tq), unsigned(d.n_head)), kThreads, smem, s>>>(
        static_cast<const T*>(q), static_cast<const T*>(k), static_cast<const T*>(v), d, scale,
        static_cast<T*>(out), static_cast<T*>(weights));
    return cudaGetLastError();
  });
}

}  // namespace hark::backends::cuda::detail
