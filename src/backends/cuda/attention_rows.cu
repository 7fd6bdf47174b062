// Ragged attention for decoding many sequences at once: query row r attends the first n_keys[r]
// rows of its own key/value matrices (a sequence's KV cache, or its window's cross-attention K/V),
// found through per-row device arrays of addresses (int64). Rows of different sequences, lengths
// and windows share one launch, so sequences can join and leave a batch between steps. K/V are of
// the activations' dtype, or int8 with one fp32 scale per (key, head) (the cross-attention K/V of
// ModelPlacement::int8_cross_kv), dequantised in registers. The scales are head-major ([n_head,
// ld_scale], a head's contiguous), so a block reads its (row, head)'s scales of a chunk of keys as
// consecutive floats, one per thread (coalesced): the K scale multiplies the scores in the
// softmax's max pass and the V scale the probabilities in its exp pass, and the inner loops read
// only the int8 values.
//
// Split-K ("flash decoding"): block (row, head, split) reduces keys [split * chunk, + chunk) to a
// partial (max, sum, unnormalised output). The host picks the split count so that every batch
// fills the GPU for a few waves of blocks (a single decoder step over 1500 encoder positions as
// much as 128 windows' steps), at least 64 keys per split. Scores are fp32 in shared memory (chunk
// floats). The plan depends only on the row count and a bound on the keys, never on the lengths
// themselves (they are read on the device), so a CUDA graph of a decoder step sized for the full
// text / audio context replays for any lengths.
//
// Head size 64 with 16-byte aligned rows (every decoder step) runs rows_fused_h64_kernel: all K/V
// reads are 16-byte loads, four in flight per thread, and the split merge happens in the same
// launch (the last split of a (row, head) to finish, counted by an atomic, merges), so one call is
// one launch; splits past a row's keys exit at once and a row whose keys fit one split writes its
// output directly. Other shapes run the general kernel (scalar loads) plus a merge kernel when
// there are splits.
#include <type_traits>

#include "backends/cuda/common.cuh"
#include "backends/cuda/launch.h"

namespace hark::backends::cuda::detail {
namespace {

constexpr int kThreads = 128;

template <typename T>
__device__ __forceinline__ const T* row_matrix(int64_t address) {
  return reinterpret_cast<const T*>(static_cast<uintptr_t>(address));
}

// The split's scores p[0, n) (published by a barrier before the call) become exp(p - max) in
// place; mx and sum (of the exponentials) come back in every thread. Its barriers publish p[].
// Int8 K/V (kScaled): ks, vs (the chunk's key / value scales of the (row, head), n contiguous
// floats each) scale the scores first (p[j] *= ks[j], the max taken after) and the exponentials
// after (p[j] = exp(...) * vs[j]; sum stays that of the exponentials), so P V reads only the int8
// values. Each thread reads and writes the same p[j] in both passes. Float K/V: ks, vs unused.
template <bool kScaled>
__device__ __forceinline__ void chunk_softmax(float* p, int n, const float* ks, const float* vs,
                                              float* scratch, float& mx, float& sum) {
  mx = -INFINITY;
  for (int j = threadIdx.x; j < n; j += kThreads) {
    float x = p[j];
    if constexpr (kScaled) {
      x *= ks[j];
      p[j] = x;
    }
    mx = fmaxf(mx, x);
  }
  mx = block_max(mx, scratch);
  sum = 0.0f;
  for (int j = threadIdx.x; j < n; j += kThreads) {
    const float e = __expf(p[j] - mx);
    if constexpr (kScaled) {
      p[j] = e * vs[j];
    } else {
      p[j] = e;
    }
    sum += e;
  }
  sum = block_sum(sum, scratch);
}

using detail::load;  // the float overloads, next to this one for int8 K/V
__device__ __forceinline__ float load(const int8_t* p) { return float(*p); }

// Int8 K/V: the scales of keys [j0, ...) of head h in row r's [n_head, ld] scale matrix (head-
// major, contiguous per head); null for float K/V (KV not int8_t: never read).
template <typename KV>
__device__ __forceinline__ const float* head_scales(const int64_t* sp, int64_t r, int64_t h,
                                                    int64_t ld, int j0) {
  if constexpr (std::is_same_v<KV, int8_t>) {
    return row_matrix<float>(sp[r]) + h * ld + j0;
  } else {
    return nullptr;
  }
}

// KV: T, or int8_t with k_sc / v_sc the addresses of each row's [n_head, d.ld_scale] fp32 scales.
template <typename T, typename KV>
__global__ void __launch_bounds__(kThreads)
    rows_partial_kernel(const T* q, const int64_t* kp, const int64_t* vp, const int64_t* k_sc,
                        const int64_t* v_sc, const int64_t* n_keys, AttentionRowsDims d, int chunk,
                        int n_split, float scale, T* out, float* part) {
  pdl_wait();
  extern __shared__ float smem[];
  __shared__ float scratch[32];
  const int64_t r = blockIdx.x, h = blockIdx.y;
  const int split = blockIdx.z;
  const int dh = int(d.head_dim), tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  float* qs = smem;        // [dh]
  float* p = qs + dh;      // [chunk]
  float* red = p + chunk;  // [kThreads]
  const int n = int(n_keys[r]);
  const int j0 = split * chunk, j1 = min(n, j0 + chunk);
  float* my_part = part ? part + ((r * d.n_head + h) * n_split + split) * (dh + 2) : nullptr;
  if (j0 >= j1) {  // this split has no keys (only with n_split > 1)
    for (int e = tid; e < dh + 2; e += kThreads) my_part[e] = e == 0 ? -INFINITY : 0.0f;
    return;
  }
  const KV* kr = row_matrix<KV>(kp[r]) + h * dh;
  const KV* vr = row_matrix<KV>(vp[r]) + h * dh;
  for (int e = tid; e < dh; e += kThreads) qs[e] = load(q + r * d.ld_q + h * dh + e) * scale;
  __syncthreads();
  for (int j = j0 + warp; j < j1; j += kThreads / 32) {
    const KV* kj = kr + int64_t(j) * d.ld_kv;
    float dot = 0.0f;
    for (int e = lane; e < dh; e += 32) dot += qs[e] * load(kj + e);
    dot = warp_sum(dot);
    if (lane == 0) p[j - j0] = dot;
  }
  __syncthreads();
  float mx, sum;
  chunk_softmax<std::is_same_v<KV, int8_t>>(p, j1 - j0, head_scales<KV>(k_sc, r, h, d.ld_scale, j0),
                                            head_scales<KV>(v_sc, r, h, d.ld_scale, j0), scratch,
                                            mx, sum);

  auto emit = [&](int e, float acc) {
    if (n_split == 1) {
      store(out + r * d.ld_out + h * dh + e, acc / sum);
    } else {
      my_part[2 + e] = acc;
    }
  };
  if (dh <= kThreads) {
    const int groups = kThreads / dh, e = tid % dh, g = tid / dh;
    if (g < groups) {
      float acc = 0.0f;
      for (int j = j0 + g; j < j1; j += groups)
        acc += p[j - j0] * load(vr + int64_t(j) * d.ld_kv + e);
      red[tid] = acc;
    }
    __syncthreads();
    if (tid < dh) {
      float acc = 0.0f;
      for (int s = 0; s < groups; ++s) acc += red[s * dh + tid];
      emit(tid, acc);
    }
  } else {
    for (int e = tid; e < dh; e += kThreads) {
      float acc = 0.0f;
      for (int j = j0; j < j1; ++j) acc += p[j - j0] * load(vr + int64_t(j) * d.ld_kv + e);
      emit(e, acc);
    }
  }
  if (n_split > 1 && tid == 0) {
    my_part[0] = mx;
    my_part[1] = sum;
  }
}

// 8 consecutive int8 values (one 8-byte load) as floats.
__device__ __forceinline__ void load8(const int8_t* p, float* out) {
  const uint2 raw = *reinterpret_cast<const uint2*>(p);
  const char4 a = *reinterpret_cast<const char4*>(&raw.x),
              b = *reinterpret_cast<const char4*>(&raw.y);
  out[0] = a.x;
  out[1] = a.y;
  out[2] = a.z;
  out[3] = a.w;
  out[4] = b.x;
  out[5] = b.y;
  out[6] = b.z;
  out[7] = b.w;
}

// 8 consecutive 16-bit values (one 16-byte load) as floats.
__device__ __forceinline__ void load8(const __half* p, float* out) {
  const uint4 raw = *reinterpret_cast<const uint4*>(p);
  const __half2* h = reinterpret_cast<const __half2*>(&raw);
  for (int i = 0; i < 4; ++i) {
    const float2 f = __half22float2(h[i]);
    out[2 * i] = f.x;
    out[2 * i + 1] = f.y;
  }
}
__device__ __forceinline__ void load8(const __nv_bfloat16* p, float* out) {
  const uint4 raw = *reinterpret_cast<const uint4*>(p);
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&raw);
  for (int i = 0; i < 4; ++i) {
    const float2 f = __bfloat1622float2(h[i]);
    out[2 * i] = f.x;
    out[2 * i + 1] = f.y;
  }
}

// The same for head_dim 64 in 16-bit types, with 16-byte loads: 8 lanes read one key row (128 B)
// and reduce its dot product in 3 shuffles, a warp takes 4 keys at a time; for P V, 8 threads
// cover a value row and 16 groups of threads take every 16th key, summed through shared memory.
template <typename T, typename KV>
__global__ void __launch_bounds__(kThreads)
    rows_partial_h64_kernel(const T* q, const int64_t* kp, const int64_t* vp, const int64_t* k_sc,
                            const int64_t* v_sc, const int64_t* n_keys, AttentionRowsDims d,
                            int chunk, int n_split, float scale, T* out, float* part) {
  pdl_wait();
  constexpr int kDh = 64, kGroups = kThreads / 8;
  extern __shared__ float smem[];
  __shared__ float scratch[32];
  const int64_t r = blockIdx.x, h = blockIdx.y;
  const int split = blockIdx.z;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, sub = lane & 7;
  float* qs = smem;        // [64]
  float* p = qs + kDh;     // [chunk]
  float* red = p + chunk;  // [kGroups][64]
  const int n = int(n_keys[r]);
  const int j0 = split * chunk, j1 = min(n, j0 + chunk);
  float* my_part = part ? part + ((r * d.n_head + h) * n_split + split) * (kDh + 2) : nullptr;
  if (j0 >= j1) {
    for (int e = tid; e < kDh + 2; e += kThreads) my_part[e] = e == 0 ? -INFINITY : 0.0f;
    return;
  }
  const KV* kr = row_matrix<KV>(kp[r]) + h * kDh;
  const KV* vr = row_matrix<KV>(vp[r]) + h * kDh;
  for (int e = tid; e < kDh; e += kThreads) qs[e] = load(q + r * d.ld_q + h * kDh + e) * scale;
  __syncthreads();
  float qv[8];
  for (int i = 0; i < 8; ++i) qv[i] = qs[sub * 8 + i];
  for (int jb = j0 + warp * 4; jb < j1; jb += 4 * (kThreads / 32)) {
    const int j = jb + (lane >> 3);
    float dot = 0.0f;
    if (j < j1) {
      float kv[8];
      load8(kr + int64_t(j) * d.ld_kv + sub * 8, kv);
      for (int i = 0; i < 8; ++i) dot += qv[i] * kv[i];
    }
    dot += __shfl_xor_sync(0xffffffffu, dot, 4);
    dot += __shfl_xor_sync(0xffffffffu, dot, 2);
    dot += __shfl_xor_sync(0xffffffffu, dot, 1);
    if (sub == 0 && j < j1) p[j - j0] = dot;
  }
  __syncthreads();
  float mx, sum;
  chunk_softmax<std::is_same_v<KV, int8_t>>(p, j1 - j0, head_scales<KV>(k_sc, r, h, d.ld_scale, j0),
                                            head_scales<KV>(v_sc, r, h, d.ld_scale, j0), scratch,
                                            mx, sum);

  const int dsub = tid & 7, group = tid >> 3;
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int j = j0 + group; j < j1; j += kGroups) {
    const float w = p[j - j0];
    float vv[8];
    load8(vr + int64_t(j) * d.ld_kv + dsub * 8, vv);
    for (int i = 0; i < 8; ++i) acc[i] += w * vv[i];
  }
  for (int i = 0; i < 8; ++i) red[group * kDh + dsub * 8 + i] = acc[i];
  __syncthreads();
  if (tid < kDh) {
    float o = 0.0f;
    for (int g = 0; g < kGroups; ++g) o += red[g * kDh + tid];
    if (n_split == 1) {
      store(out + r * d.ld_out + h * kDh + tid, o / sum);
    } else {
      my_part[2 + tid] = o;
    }
  }
  if (n_split > 1 && tid == 0) {
    my_part[0] = mx;
    my_part[1] = sum;
  }
}

template <typename T>
__global__ void rows_merge_kernel(const float* part, AttentionRowsDims d, int n_split, T* out) {
  pdl_wait();
  const int64_t r = blockIdx.x, h = blockIdx.y;
  const int dh = int(d.head_dim);
  const float* base = part + (r * d.n_head + h) * n_split * (dh + 2);
  float m = -INFINITY;
  for (int s = 0; s < n_split; ++s) m = fmaxf(m, base[s * (dh + 2)]);
  float l = 0.0f;
  for (int s = 0; s < n_split; ++s) {
    const float ms = base[s * (dh + 2)];
    if (ms > -INFINITY) l += base[s * (dh + 2) + 1] * __expf(ms - m);
  }
  for (int e = threadIdx.x; e < dh; e += blockDim.x) {
    float acc = 0.0f;
    for (int s = 0; s < n_split; ++s) {
      const float ms = base[s * (dh + 2)];
      if (ms > -INFINITY) acc += base[s * (dh + 2) + 2 + e] * __expf(ms - m);
    }
    store(out + r * d.ld_out + h * dh + e, acc / l);
  }
}

// 16 bytes of K/V (a 16-byte aligned p) when `in`, else zero bits (0.0 in every K/V type): the
// raw load is predicated and converted later (convert16), so a thread issues all its loads of an
// iteration before it waits for the first.
template <typename KV>
__device__ __forceinline__ uint4 load_raw16(const KV* p, bool in) {
  return in ? *reinterpret_cast<const uint4*>(p) : make_uint4(0u, 0u, 0u, 0u);
}
// 16 bytes of K/V as floats: 8 16-bit values, 16 int8 values or 4 floats (the pointer argument
// only picks the type).
__device__ __forceinline__ void convert16(const uint4& raw, float* out, const __half*) {
  const __half2* h = reinterpret_cast<const __half2*>(&raw);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 f = __half22float2(h[i]);
    out[2 * i] = f.x;
    out[2 * i + 1] = f.y;
  }
}
__device__ __forceinline__ void convert16(const uint4& raw, float* out, const __nv_bfloat16*) {
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 f = __bfloat1622float2(h[i]);
    out[2 * i] = f.x;
    out[2 * i + 1] = f.y;
  }
}
__device__ __forceinline__ void convert16(const uint4& raw, float* out, const float*) {
  out[0] = __uint_as_float(raw.x);
  out[1] = __uint_as_float(raw.y);
  out[2] = __uint_as_float(raw.z);
  out[3] = __uint_as_float(raw.w);
}
// 16 int8 values to float without I2F (a quarter-rate instruction that made the int8 kernel
// slower than the 16-bit one): byte b of w ^ 0x80808080 (the value + 128) becomes the low byte of
// 0x4B0000xx, the float 2^23 + value + 128, then one exact FADD removes 2^23 + 128 (zero bits
// give 0.0).
__device__ __forceinline__ void convert16(const uint4& raw, float* out, const int8_t*) {
  const uint32_t w[4] = {raw.x ^ 0x80808080u, raw.y ^ 0x80808080u, raw.z ^ 0x80808080u,
                         raw.w ^ 0x80808080u};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    out[4 * i] = __uint_as_float(__byte_perm(w[i], 0x4B000000u, 0x7540)) - 8388736.0f;
    out[4 * i + 1] = __uint_as_float(__byte_perm(w[i], 0x4B000000u, 0x7541)) - 8388736.0f;
    out[4 * i + 2] = __uint_as_float(__byte_perm(w[i], 0x4B000000u, 0x7542)) - 8388736.0f;
    out[4 * i + 3] = __uint_as_float(__byte_perm(w[i], 0x4B000000u, 0x7543)) - 8388736.0f;
  }
}

// Split counters of the fused kernel, one per (row, head): zero at module load, and the block
// that merges a (row, head) puts its counter back to zero, so every launch finds them zero (the
// backend's launches run one after another on one stream, graph replays included).
constexpr int kMaxSplitCounters = 16384;
__device__ unsigned int g_split_counters[kMaxSplitCounters];

// head_dim 64, every K/V row read with 16-byte loads, kU loads in flight per thread. Block
// (head, row, split) takes keys [split * chunk, + chunk) of its row's n keys: the kLanes lanes of
// a key row (8 for 16-bit K/V, 4 for int8, 16 for fp32) each hold kN query values and reduce their
// dot product by shuffles; scores go to shared memory, then the chunk's softmax, then P V with
// kLanes threads per value row and kGroups groups of them taking every kGroups-th key. Splits
// past ceil(n / chunk) (lengths read here: the launch depends on max_keys only) exit at once; a
// row whose keys fit one split writes its output directly, otherwise each split writes its
// partial (max, sum, unnormalised output) and the last split of the (row, head) to finish (an
// atomic counter) merges them in the same launch.
template <typename T, typename KV>
__global__ void __launch_bounds__(kThreads)
    rows_fused_h64_kernel(const T* q, const int64_t* kp, const int64_t* vp, const int64_t* k_sc,
                          const int64_t* v_sc, const int64_t* n_keys, AttentionRowsDims d,
                          int chunk, int n_split, float scale, T* out, float* part) {
  pdl_wait();
  constexpr int kDh = 64, kN = 16 / int(sizeof(KV)), kLanes = kDh / kN;
  constexpr int kWarps = kThreads / 32, kKeysPerWarp = 32 / kLanes, kGroups = kThreads / kLanes;
  constexpr int kU = 4;
  extern __shared__ float smem[];
  __shared__ float scratch[32];
  __shared__ bool merge_here;
  const int64_t h = blockIdx.x, r = blockIdx.y;
  const int split = blockIdx.z;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, sub = lane % kLanes;
  const int n = int(n_keys[r]);
  const int n_eff = (n + chunk - 1) / chunk;  // splits with keys
  if (split >= n_eff) return;
  const int j0 = split * chunk, j1 = min(n, j0 + chunk);
  float* qs = smem;        // [64]
  float* p = qs + kDh;     // [chunk]
  float* red = p + chunk;  // [kGroups][64]
  const KV* kr = row_matrix<KV>(kp[r]) + h * kDh;
  const KV* vr = row_matrix<KV>(vp[r]) + h * kDh;
  const int64_t ld = d.ld_kv;
  for (int e = tid; e < kDh; e += kThreads) qs[e] = load(q + r * d.ld_q + h * kDh + e) * scale;
  __syncthreads();
  float qv[kN];
#pragma unroll
  for (int i = 0; i < kN; ++i) qv[i] = qs[sub * kN + i];
  // Scores: per iteration a warp covers kU * kKeysPerWarp keys, the block kWarps times that.
  constexpr int kStride = kKeysPerWarp * kWarps;
  for (int jb = j0 + warp * kKeysPerWarp + lane / kLanes; jb - lane / kLanes < j1;
       jb += kU * kStride) {
    uint4 raw[kU];
#pragma unroll
    for (int u = 0; u < kU; ++u) {
      const int j = jb + u * kStride;
      raw[u] = load_raw16(kr + int64_t(j) * ld + sub * kN, j < j1);
    }
#pragma unroll
    for (int u = 0; u < kU; ++u) {
      const int j = jb + u * kStride;
      float kv[kN];
      convert16(raw[u], kv, kr);
      float dot = 0.0f;
#pragma unroll
      for (int i = 0; i < kN; ++i) dot += qv[i] * kv[i];
#pragma unroll
      for (int o = kLanes / 2; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
      if (sub == 0 && j < j1) p[j - j0] = dot;
    }
  }
  __syncthreads();
  float mx, sum;
  chunk_softmax<std::is_same_v<KV, int8_t>>(p, j1 - j0, head_scales<KV>(k_sc, r, h, d.ld_scale, j0),
                                            head_scales<KV>(v_sc, r, h, d.ld_scale, j0), scratch,
                                            mx, sum);

  const int dsub = tid % kLanes, group = tid / kLanes;
  float acc[kN];
#pragma unroll
  for (int i = 0; i < kN; ++i) acc[i] = 0.0f;
  for (int jb = j0 + group; jb < j1; jb += kU * kGroups) {
    uint4 raw[kU];
    float w[kU];
#pragma unroll
    for (int u = 0; u < kU; ++u) {
      const int j = jb + u * kGroups;
      raw[u] = load_raw16(vr + int64_t(j) * ld + dsub * kN, j < j1);
      w[u] = j < j1 ? p[j - j0] : 0.0f;
    }
#pragma unroll
    for (int u = 0; u < kU; ++u) {
      float vv[kN];
      convert16(raw[u], vv, vr);
#pragma unroll
      for (int i = 0; i < kN; ++i) acc[i] += w[u] * vv[i];
    }
  }
#pragma unroll
  for (int i = 0; i < kN; ++i) red[group * kDh + dsub * kN + i] = acc[i];
  __syncthreads();
  float o = 0.0f;
  if (tid < kDh)
    for (int g = 0; g < kGroups; ++g) o += red[g * kDh + tid];
  if (n_eff == 1) {
    if (tid < kDh) store(out + r * d.ld_out + h * kDh + tid, o / sum);
    return;
  }
  // Publish this split's partial; the last split of the (row, head) to arrive merges.
  const int64_t item = r * d.n_head + h;
  float* base = part + item * n_split * (kDh + 2);
  float* mine = base + split * (kDh + 2);
  if (tid < kDh) mine[2 + tid] = o;
  if (tid == 0) {
    mine[0] = mx;
    mine[1] = sum;
  }
  __threadfence();
  __syncthreads();
  if (tid == 0) merge_here = atomicAdd(&g_split_counters[item], 1u) == unsigned(n_eff - 1);
  __syncthreads();
  if (!merge_here) return;
  __threadfence();
  if (tid < kDh) {
    float m = -INFINITY;
    for (int sp = 0; sp < n_eff; ++sp) m = fmaxf(m, __ldcg(base + sp * (kDh + 2)));
    float l = 0.0f, a = 0.0f;
    for (int sp = 0; sp < n_eff; ++sp) {
      const float* ps = base + sp * (kDh + 2);
      const float f = __expf(__ldcg(ps) - m);
      l += __ldcg(ps + 1) * f;
      a += __ldcg(ps + 2 + tid) * f;
    }
    store(out + r * d.ld_out + h * kDh + tid, a / l);
  }
  if (tid == 0) g_split_counters[item] = 0u;
}

// rows_fused_h64_kernel for int8 K/V over two heads per block: a key row of one head is 64 bytes,
// of two adjacent heads 128 contiguous bytes (a whole cache line), which is what lets the int8
// reads approach the DRAM bandwidth (one head per block left half of each line to another block).
// Same plan and workspace; kLanes = 8 lanes per key row (4 per head), p holds both heads' scores,
// two softmaxes, and the last split of the (row, head pair) merges both heads (one counter per
// pair, at the pair's first head).
template <typename T>
__global__ void __launch_bounds__(kThreads)
    rows_fused_pair_i8_kernel(const T* q, const int64_t* kp, const int64_t* vp, const int64_t* k_sc,
                              const int64_t* v_sc, const int64_t* n_keys, AttentionRowsDims d,
                              int chunk, int n_split, float scale, T* out, float* part) {
  pdl_wait();
  constexpr int kDh = 64, kN = 16, kLanes = 8, kHeadLanes = 4;
  constexpr int kWarps = kThreads / 32, kKeysPerWarp = 32 / kLanes, kGroups = kThreads / kLanes;
  constexpr int kU = 4;
  extern __shared__ float smem[];
  __shared__ float scratch[32];
  __shared__ bool merge_here;
  const int64_t h0 = 2 * int64_t(blockIdx.x), r = blockIdx.y;
  const int split = blockIdx.z;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, sub = lane % kLanes;
  const int n = int(n_keys[r]);
  const int n_eff = (n + chunk - 1) / chunk;
  if (split >= n_eff) return;
  const int j0 = split * chunk, j1 = min(n, j0 + chunk);
  float* qs = smem;          // [128]
  float* p0 = qs + 2 * kDh;  // [chunk], head h0
  float* p1 = p0 + chunk;    // [chunk], head h0 + 1
  float* red = p1 + chunk;   // [kGroups][128]
  const int8_t* kr = row_matrix<int8_t>(kp[r]) + h0 * kDh;
  const int8_t* vr = row_matrix<int8_t>(vp[r]) + h0 * kDh;
  const int64_t ld = d.ld_kv;
  for (int e = tid; e < 2 * kDh; e += kThreads) qs[e] = load(q + r * d.ld_q + h0 * kDh + e) * scale;
  __syncthreads();
  float qv[kN];
#pragma unroll
  for (int i = 0; i < kN; ++i) qv[i] = qs[sub * kN + i];
  float* my_p = sub < kHeadLanes ? p0 : p1;
  constexpr int kStride = kKeysPerWarp * kWarps;
  for (int jb = j0 + warp * kKeysPerWarp + lane / kLanes; jb - lane / kLanes < j1;
       jb += kU * kStride) {
    uint4 raw[kU];
#pragma unroll
    for (int u = 0; u < kU; ++u) {
      const int j = jb + u * kStride;
      raw[u] = load_raw16(kr + int64_t(j) * ld + sub * kN, j < j1);
    }
#pragma unroll
    for (int u = 0; u < kU; ++u) {
      const int j = jb + u * kStride;
      float kv[kN];
      convert16(raw[u], kv, kr);
      float dot = 0.0f;
#pragma unroll
      for (int i = 0; i < kN; ++i) dot += qv[i] * kv[i];
#pragma unroll
      for (int o = kHeadLanes / 2; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
      if (sub % kHeadLanes == 0 && j < j1) my_p[j - j0] = dot;
    }
  }
  __syncthreads();
  float mx0, sum0, mx1, sum1;
  chunk_softmax<true>(p0, j1 - j0, head_scales<int8_t>(k_sc, r, h0, d.ld_scale, j0),
                      head_scales<int8_t>(v_sc, r, h0, d.ld_scale, j0), scratch, mx0, sum0);
  chunk_softmax<true>(p1, j1 - j0, head_scales<int8_t>(k_sc, r, h0 + 1, d.ld_scale, j0),
                      head_scales<int8_t>(v_sc, r, h0 + 1, d.ld_scale, j0), scratch, mx1, sum1);

  const int dsub = tid % kLanes, group = tid / kLanes;
  const float* pv = dsub < kHeadLanes ? p0 : p1;
  float acc[kN];
#pragma unroll
  for (int i = 0; i < kN; ++i) acc[i] = 0.0f;
  for (int jb = j0 + group; jb < j1; jb += kU * kGroups) {
    uint4 raw[kU];
    float w[kU];
#pragma unroll
    for (int u = 0; u < kU; ++u) {
      const int j = jb + u * kGroups;
      raw[u] = load_raw16(vr + int64_t(j) * ld + dsub * kN, j < j1);
      w[u] = j < j1 ? pv[j - j0] : 0.0f;
    }
#pragma unroll
    for (int u = 0; u < kU; ++u) {
      float vv[kN];
      convert16(raw[u], vv, vr);
#pragma unroll
      for (int i = 0; i < kN; ++i) acc[i] += w[u] * vv[i];
    }
  }
#pragma unroll
  for (int i = 0; i < kN; ++i) red[group * 2 * kDh + dsub * kN + i] = acc[i];
  __syncthreads();
  static_assert(kThreads == 2 * kDh, "one output value of the pair per thread");
  const int oh = tid / kDh, e = tid % kDh;  // this thread's head in the pair and value
  float o = 0.0f;
  for (int g = 0; g < kGroups; ++g) o += red[g * 2 * kDh + tid];
  const float mx = oh ? mx1 : mx0, sum = oh ? sum1 : sum0;
  T* dst = out + r * d.ld_out + (h0 + oh) * kDh + e;
  if (n_eff == 1) {
    store(dst, o / sum);
    return;
  }
  const int64_t item0 = r * d.n_head + h0;
  float* base = part + (item0 + oh) * n_split * (kDh + 2);
  float* mine = base + split * (kDh + 2);
  mine[2 + e] = o;
  if (e == 0) {
    mine[0] = mx;
    mine[1] = sum;
  }
  __threadfence();
  __syncthreads();
  if (tid == 0) merge_here = atomicAdd(&g_split_counters[item0], 1u) == unsigned(n_eff - 1);
  __syncthreads();
  if (!merge_here) return;
  __threadfence();
  float m = -INFINITY;
  for (int sp = 0; sp < n_eff; ++sp) m = fmaxf(m, __ldcg(base + sp * (kDh + 2)));
  float l = 0.0f, a = 0.0f;
  for (int sp = 0; sp < n_eff; ++sp) {
    const float* ps = base + sp * (kDh + 2);
    const float f = __expf(__ldcg(ps) - m);
    l += __ldcg(ps + 1) * f;
    a += __ldcg(ps + 2 + e) * f;
  }
  store(dst, a / l);
  if (tid == 0) g_split_counters[item0] = 0u;
}

}  // namespace

AttentionRowsPlan plan_attention_rows(const AttentionRowsDims& d, int max_keys, int sm_count) {
  AttentionRowsPlan plan;
  const int64_t items = d.rows * d.n_head;
  // Enough blocks for about four waves of the fused kernel (up to 16 resident blocks of 128
  // threads per SM): with one block per (row, head), 128 rows x 20 heads filled 1.2 waves and the
  // partly empty second wave left a fifth of the bandwidth unused. Extra splits cost only their
  // partials (head_dim + 2 floats each), merged by the last split of the (row, head).
  // A small batch (fewer (row, head) items than two blocks per SM) is latency-bound: split just
  // enough for two blocks per SM, as short a critical path as the merge allows.
  const int64_t sms = sm_count > 0 ? sm_count : 132;
  const int64_t want_blocks = items < 2 * sms ? 2 * sms : 64 * sms;
  int64_t split = items >= want_blocks ? 1 : (want_blocks + items - 1) / items;
  split = std::min<int64_t>(split, (max_keys + 63) / 64);      // at least 64 keys per split
  split = std::max<int64_t>(split, (max_keys + 4095) / 4096);  // at most 4096 scores in smem
  split = std::max<int64_t>(split, 1);
  plan.n_split = int(split);
  plan.chunk = int((max_keys + split - 1) / split);
  plan.chunk = (plan.chunk + 31) / 32 * 32;
  return plan;
}

cudaError_t launch_attention_rows(DType dtype, const void* q, const int64_t* k_rows,
                                  const int64_t* v_rows, const int64_t* n_keys,
                                  const AttentionRowsDims& d, const AttentionRowsPlan& plan,
                                  bool rows_aligned16, float* part, void* out, cudaStream_t s,
                                  const int64_t* k_scales, const int64_t* v_scales) {
  if (d.rows == 0) return cudaSuccess;
  if (d.rows > 0x7fffffff || d.n_head > 65535 || plan.n_split > 65535)
    return cudaErrorInvalidConfiguration;
  const bool int8 = k_scales != nullptr;
  if (int8 && (!v_scales || d.ld_scale < 1)) return cudaErrorInvalidValue;
  const float scale = float(1.0 / sqrt(double(d.head_dim)));
  // The vector-load kernel needs head_dim 64 and 16-byte aligned rows (row pointers come from the
  // allocator, aligned; strides are checked here), and 16-bit or int8 K/V.
  const bool h64 =
      (dtype != DType::kF32 || int8) && d.head_dim == 64 && d.ld_kv % 8 == 0 && rows_aligned16;
  const size_t smem =
      size_t(d.head_dim + plan.chunk + (h64 ? (kThreads / 8) * 64 : kThreads)) * sizeof(float);
  return dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    const auto go = [&](auto kernel) {
      if (smem > 48 * 1024) {
        const cudaError_t err =
            cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
        if (err != cudaSuccess) return err;
      }
      const dim3 grid(unsigned(d.rows), unsigned(d.n_head), unsigned(plan.n_split));
      if (const cudaError_t launch_err =
              launch_pdl(kernel, grid, kThreads, smem, s, static_cast<const T*>(q), k_rows, v_rows,
                         k_scales, v_scales, n_keys, d, plan.chunk, plan.n_split, scale,
                         static_cast<T*>(out), plan.n_split > 1 ? part : nullptr);
          launch_err != cudaSuccess)
        return launch_err;
      return cudaGetLastError();
    };
    // The fused kernel: head_dim 64, 16-byte aligned rows and strides, grid (head, row, split)
    // within limits, and a split counter per (row, head) when there are splits.
    const int64_t vec = int8 ? 16 : int64_t(16 / sizeof(T));
    const bool fused = d.head_dim == 64 && d.ld_kv % vec == 0 && rows_aligned16 &&
                       d.rows <= 65535 &&
                       (plan.n_split == 1 || d.rows * d.n_head <= kMaxSplitCounters);
    if (fused && int8 && d.n_head % 2 == 0) {
      const size_t pair_smem = size_t(128 + 2 * plan.chunk + (kThreads / 8) * 128) * sizeof(float);
      auto kernel = rows_fused_pair_i8_kernel<T>;
      if (pair_smem > 48 * 1024) {
        const cudaError_t err = cudaFuncSetAttribute(
            kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(pair_smem));
        if (err != cudaSuccess) return err;
      }
      const dim3 grid(unsigned(d.n_head / 2), unsigned(d.rows), unsigned(plan.n_split));
      if (const cudaError_t launch_err =
              launch_pdl(kernel, grid, kThreads, pair_smem, s, static_cast<const T*>(q), k_rows,
                         v_rows, k_scales, v_scales, n_keys, d, plan.chunk, plan.n_split, scale,
                         static_cast<T*>(out), part);
          launch_err != cudaSuccess)
        return launch_err;
      return cudaGetLastError();
    }
    if (fused) {
      const int groups = kThreads / (64 / int(16 / (int8 ? 1 : sizeof(T))));
      const size_t fused_smem = size_t(64 + plan.chunk + groups * 64) * sizeof(float);
      auto kernel = int8 ? rows_fused_h64_kernel<T, int8_t> : rows_fused_h64_kernel<T, T>;
      if (fused_smem > 48 * 1024) {
        const cudaError_t err = cudaFuncSetAttribute(
            kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(fused_smem));
        if (err != cudaSuccess) return err;
      }
      const dim3 grid(unsigned(d.n_head), unsigned(d.rows), unsigned(plan.n_split));
      if (const cudaError_t launch_err =
              launch_pdl(kernel, grid, kThreads, fused_smem, s, static_cast<const T*>(q), k_rows,
                         v_rows, k_scales, v_scales, n_keys, d, plan.chunk, plan.n_split, scale,
                         static_cast<T*>(out), part);
          launch_err != cudaSuccess)
        return launch_err;
      return cudaGetLastError();
    }
    cudaError_t err;
    if (int8) {
      err = h64 ? go(rows_partial_h64_kernel<T, int8_t>) : go(rows_partial_kernel<T, int8_t>);
    } else if constexpr (!std::is_same_v<T, float>) {
      err = h64 ? go(rows_partial_h64_kernel<T, T>) : go(rows_partial_kernel<T, T>);
    } else {
      err = go(rows_partial_kernel<T, T>);
    }
    if (err != cudaSuccess || plan.n_split == 1) return err;
    if (const cudaError_t launch_err =
            launch_pdl(rows_merge_kernel<T>, dim3(unsigned(d.rows), unsigned(d.n_head)), 64, 0, s,
                       part, d, plan.n_split, static_cast<T*>(out));
        launch_err != cudaSuccess)
      return launch_err;
    return cudaGetLastError();
  });
}

}  // namespace hark::backends::cuda::detail
