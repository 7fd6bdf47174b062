// Row movement for batched decoding, so that a decoder step needs no host maths: the token +
// position embedding gather, the scatter of new K/V rows into each sequence's cache, the gather
// of each sequence's last row, and the per-row argmax of the logits (greedy decoding reads back
// one int per sequence, not the vocabulary). Indices and destination addresses are int64 device
// arrays, read by the kernels, so a CUDA graph of a step replays for any tokens and caches.
#include "backends/cuda/common.cuh"
#include "backends/cuda/launch.h"

namespace hark::backends::cuda::detail {
namespace {

template <typename T>
__global__ void embed_rows_kernel(const T* table, const T* pos_table, const int64_t* ids_pos,
                                  int64_t rows, int64_t d, T* out) {
  pdl_wait();
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < rows * d;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / d, c = i % d;
    const int64_t id = ids_pos[2 * r], pos = ids_pos[2 * r + 1];
    store(out + i, load(table + id * d + c) + load(pos_table + pos * d + c));
  }
}

template <typename T>
__global__ void scatter_rows_kernel(const T* src, const int64_t* dst, const int64_t* positions,
                                    int64_t d) {
  pdl_wait();
  const int64_t r = blockIdx.x;
  T* row = reinterpret_cast<T*>(static_cast<uintptr_t>(dst[r])) + positions[r] * d;
  for (int64_t c = threadIdx.x; c < d; c += blockDim.x) row[c] = src[r * d + c];
}

// Row r of kv [*, ld]: its last 2d columns, K then V, to their caches.
template <typename T>
__global__ void scatter_kv_rows_kernel(const T* kv, int64_t ld, const int64_t* k_addr,
                                       const int64_t* v_addr, const int64_t* positions, int64_t d) {
  pdl_wait();
  const int64_t r = blockIdx.x;
  const int64_t at = positions[r] * d;
  T* k = reinterpret_cast<T*>(static_cast<uintptr_t>(k_addr[r])) + at;
  T* v = reinterpret_cast<T*>(static_cast<uintptr_t>(v_addr[r])) + at;
  const T* src = kv + r * ld + (ld - 2 * d);
  for (int64_t c = threadIdx.x; c < d; c += blockDim.x) {
    k[c] = src[c];
    v[c] = src[d + c];
  }
}

template <typename T>
__global__ void gather_rows_kernel(const T* x, const int64_t* index, int64_t d, T* out) {
  pdl_wait();
  const int64_t r = blockIdx.x;
  const T* row = x + index[r] * d;
  for (int64_t c = threadIdx.x; c < d; c += blockDim.x) out[r * d + c] = row[c];
}

// Per-row argmax: block (row, split) reduces columns [split * chunk, + chunk) to a (value, index)
// pair, then one warp per row merges the splits: the row's last block in the same launch, or (more
// rows than counters) a second launch. Splitting the row over many
// blocks reads a vocabulary-wide row (51,866 logits) at the GPU's bandwidth instead of one SM's.
// Ties go to the lower index; `exclude` (or -1) is skipped; NaN never wins.
__device__ __forceinline__ void better(float& v, int& i, float ov, int oi) {
  if (ov > v || (ov == v && oi < i)) {
    v = ov;
    i = oi;
  }
}

// Rows up to kArgmaxCounters take one launch: each row's last block to finish (an atomic
// counter per row, put back to zero by that block) merges the splits.
constexpr int kArgmaxCounters = 16384;
__device__ unsigned int g_argmax_counters[kArgmaxCounters];

template <typename T>
__global__ void argmax_partial_kernel(const T* x, int64_t n, int exclude, int chunk, float* pv,
                                      int* pi, int* out) {
  pdl_wait();
  __shared__ float best_v[32];
  __shared__ int best_i[32];
  __shared__ bool merge_here;
  const int64_t r = blockIdx.x;
  const int split = blockIdx.y, n_split = gridDim.y;
  const T* row = x + r * n;
  const int64_t j0 = int64_t(split) * chunk;
  const int64_t j1 = j0 + chunk < n ? j0 + chunk : n;
  float v = -INFINITY;
  int idx = 0x7fffffff;
  for (int64_t j = j0 + threadIdx.x; j < j1; j += blockDim.x) {
    const float y = load(row + j);
    if (j != exclude) better(v, idx, y, int(j));
  }
  for (int o = 16; o > 0; o >>= 1)
    better(v, idx, __shfl_xor_sync(0xffffffffu, v, o), __shfl_xor_sync(0xffffffffu, idx, o));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) {
    best_v[warp] = v;
    best_i[warp] = idx;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < int(blockDim.x >> 5); ++w) better(v, idx, best_v[w], best_i[w]);
    pv[r * n_split + split] = v;
    pi[r * n_split + split] = idx;
  }
  if (!out) return;  // argmax_merge_kernel follows
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) merge_here = atomicAdd(&g_argmax_counters[r], 1u) == unsigned(n_split - 1);
  __syncthreads();
  if (!merge_here || warp != 0) return;
  __threadfence();
  v = -INFINITY;
  idx = 0x7fffffff;
  for (int sp = lane; sp < n_split; sp += 32)
    better(v, idx, __ldcg(pv + r * n_split + sp), __ldcg(pi + r * n_split + sp));
  for (int o = 16; o > 0; o >>= 1)
    better(v, idx, __shfl_xor_sync(0xffffffffu, v, o), __shfl_xor_sync(0xffffffffu, idx, o));
  if (lane == 0) {
    out[r] = idx == 0x7fffffff ? 0 : idx;  // a row of NaN/-inf only: token 0
    g_argmax_counters[r] = 0u;
  }
}

__global__ void argmax_merge_kernel(const float* pv, const int* pi, int64_t rows, int n_split,
                                    int* out) {
  pdl_wait();
  const int64_t r = int64_t(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (r >= rows) return;
  const int lane = threadIdx.x & 31;
  float v = -INFINITY;
  int idx = 0x7fffffff;
  for (int sp = lane; sp < n_split; sp += 32)
    better(v, idx, pv[r * n_split + sp], pi[r * n_split + sp]);
  for (int o = 16; o > 0; o >>= 1)
    better(v, idx, __shfl_xor_sync(0xffffffffu, v, o), __shfl_xor_sync(0xffffffffu, idx, o));
  if (lane == 0) out[r] = idx == 0x7fffffff ? 0 : idx;  // a row of NaN/-inf only: token 0
}

__global__ void set_token_ids_kernel(const int* ids, int64_t rows, int64_t vocab,
                                     int64_t* ids_pos) {
  pdl_wait();
  for (int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; r < rows;
       r += int64_t(gridDim.x) * blockDim.x) {
    const int64_t id = ids[r];
    ids_pos[2 * r] = id >= 0 && id < vocab ? id : 0;
  }
}

constexpr int kArgmaxThreads = 256;
constexpr int kArgmaxChunk = kArgmaxThreads * 8;

}  // namespace

cudaError_t launch_embed_rows(DType dtype, const void* table, const void* pos_table,
                              const int64_t* ids_pos, int64_t rows, int64_t d, void* out,
                              cudaStream_t s) {
  if (rows == 0) return cudaSuccess;
  return dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    if (const cudaError_t launch_err = launch_pdl(
            embed_rows_kernel<T>, grid_for(rows * d, 256), 256, 0, s, static_cast<const T*>(table),
            static_cast<const T*>(pos_table), ids_pos, rows, d, static_cast<T*>(out));
        launch_err != cudaSuccess)
      return launch_err;
    return cudaGetLastError();
  });
}

cudaError_t launch_scatter_rows(DType dtype, const void* src, const int64_t* dst,
                                const int64_t* positions, int64_t rows, int64_t d, cudaStream_t s) {
  if (rows == 0) return cudaSuccess;
  if (rows > 0x7fffffff) return cudaErrorInvalidConfiguration;
  return dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    if (const cudaError_t launch_err = launch_pdl(scatter_rows_kernel<T>, unsigned(rows), 256, 0, s,
                                                  static_cast<const T*>(src), dst, positions, d);
        launch_err != cudaSuccess)
      return launch_err;
    return cudaGetLastError();
  });
}

cudaError_t launch_scatter_kv_rows(DType dtype, const void* kv, int64_t ld, const int64_t* k_addr,
                                   const int64_t* v_addr, const int64_t* positions, int64_t rows,
                                   int64_t d, cudaStream_t s) {
  if (rows == 0 || d == 0) return cudaSuccess;
  if (rows > 0x7fffffff) return cudaErrorInvalidConfiguration;
  return dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    if (const cudaError_t launch_err =
            launch_pdl(scatter_kv_rows_kernel<T>, unsigned(rows), 256, 0, s,
                       static_cast<const T*>(kv), ld, k_addr, v_addr, positions, d);
        launch_err != cudaSuccess)
      return launch_err;
    return cudaGetLastError();
  });
}

cudaError_t launch_gather_rows(DType dtype, const void* x, const int64_t* index, int64_t rows,
                               int64_t d, void* out, cudaStream_t s) {
  if (rows == 0) return cudaSuccess;
  if (rows > 0x7fffffff) return cudaErrorInvalidConfiguration;
  return dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    if (const cudaError_t launch_err =
            launch_pdl(gather_rows_kernel<T>, unsigned(rows), 256, 0, s, static_cast<const T*>(x),
                       index, d, static_cast<T*>(out));
        launch_err != cudaSuccess)
      return launch_err;
    return cudaGetLastError();
  });
}

int argmax_splits(int64_t n) {
  const int64_t splits = (n + kArgmaxChunk - 1) / kArgmaxChunk;
  return int(splits < 1 ? 1 : (splits > 64 ? 64 : splits));
}

cudaError_t launch_argmax_rows(DType dtype, const void* x, int64_t rows, int64_t n, int exclude,
                               float* part_v, int* part_i, int* out, cudaStream_t s) {
  if (rows == 0) return cudaSuccess;
  if (rows > 0x7fffffff) return cudaErrorInvalidConfiguration;
  const int n_split = argmax_splits(n);
  const int64_t chunk64 = (n + n_split - 1) / n_split;
  if (chunk64 > 0x7fffffff) return cudaErrorInvalidConfiguration;
  return dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    const bool one_launch = rows <= kArgmaxCounters;
    if (const cudaError_t launch_err =
            launch_pdl(argmax_partial_kernel<T>, dim3(unsigned(rows), unsigned(n_split)),
                       kArgmaxThreads, 0, s, static_cast<const T*>(x), n, exclude, int(chunk64),
                       part_v, part_i, one_launch ? out : nullptr);
        launch_err != cudaSuccess)
      return launch_err;
    const cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess || one_launch) return err;
    if (const cudaError_t launch_err = launch_pdl(argmax_merge_kernel, unsigned((rows + 7) / 8),
                                                  256, 0, s, part_v, part_i, rows, n_split, out);
        launch_err != cudaSuccess)
      return launch_err;
    return cudaGetLastError();
  });
}

cudaError_t launch_set_token_ids(const int* ids, int64_t rows, int64_t vocab, int64_t* ids_pos,
                                 cudaStream_t s) {
  if (rows == 0) return cudaSuccess;
  if (const cudaError_t launch_err = launch_pdl(set_token_ids_kernel, grid_for(rows, 256), 256, 0,
                                                s, ids, rows, vocab, ids_pos);
      launch_err != cudaSuccess)
    return launch_err;
  return cudaGetLastError();
}

}  // namespace hark::backends::cuda::detail
