// Flash attention for fp16/bf16 with head_dim 64, no mask, over a batch of independent
// sequences: the encoder's self-attention (Tq = Tk = 1500 per window) and any many-query
// cross-attention. Tensor cores through WMMA (16x16x16, fp32 accumulation); the scores never
// reach global memory.
//
// One block of 4 warps takes 64 queries of one (batch, head); each warp owns 16 of them. Per tile
// of 64 keys: the block stages K and V in shared memory (16-byte loads, rows past Tk zeroed);
// each warp computes S = Q K^T (its Q fragments stay in registers for the whole pass), applies
// the online softmax row by row (all 32 lanes on one row, two columns each, so shared memory is
// read without bank conflicts; fp32, exp2 with the scale folded in), writes P in the input dtype,
// rescales its fp32 O accumulator and adds P V. The accumulator lives in shared memory rather
// than in WMMA fragments because the fragment layout is unspecified and the per-row rescale needs
// to address rows. Every shared tile is padded by 16 bytes per row, so the fragment loads and
// stores (8 rows at a time) spread over all banks. 61 KiB of shared memory per block. The final
// O / l is written in the input dtype.
//
// Requirements checked by the launcher (else it returns cudaErrorNotSupported and the caller
// falls back to the general kernel): head_dim 64, F16 or BF16 (BF16 needs sm_80), every pointer
// and row stride 16-byte aligned.
#include <mma.h>

#include <type_traits>

#include "backends/cuda/common.cuh"
#include "backends/cuda/launch.h"

namespace hark::backends::cuda::detail {
namespace {

using namespace nvcuda;

constexpr int kD = 64;       // head_dim
constexpr int kBlockQ = 64;  // queries per block
constexpr int kBlockK = 64;  // keys per tile
constexpr int kWarps = 4;    // 16 queries each
constexpr int kThreads = kWarps * 32;
constexpr int kLdh = kD + 8;  // row stride of the 16-bit tiles (K, V, Q/P), in elements
constexpr int kLdf = kD + 4;  // row stride of the fp32 tiles (S, O)
static_assert(kBlockK == kD, "the P tile reuses the Q staging layout");
constexpr size_t kSmemBytes = size_t(3 * kBlockK * kLdh) * 2         // K, V, Q/P
                              + size_t(2 * kWarps * 16 * kLdf) * 4;  // S, O

template <typename T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ __half from_float<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

// Copies a [64, 64] tile of rows [row0, row0 + 64) (rows >= n_rows zeroed) into shared memory.
template <typename T>
__device__ __forceinline__ void load_tile(const T* src, int64_t ld, int64_t row0, int64_t n_rows,
                                          T* dst) {
  for (int idx = threadIdx.x; idx < kBlockK * kD / 8; idx += kThreads) {
    const int r = idx / (kD / 8), c = idx % (kD / 8);
    uint4 val = make_uint4(0, 0, 0, 0);
    if (row0 + r < n_rows) val = *reinterpret_cast<const uint4*>(src + (row0 + r) * ld + c * 8);
    *reinterpret_cast<uint4*>(dst + r * kLdh + c * 8) = val;
  }
}

template <typename T>
__device__ void flash_body(const T* __restrict__ q, const T* __restrict__ k,
                           const T* __restrict__ v, FlashAttentionDims d, float scale_log2,
                           T* __restrict__ out) {
  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* ks = reinterpret_cast<T*>(smem_raw);
  T* vs = ks + kBlockK * kLdh;
  T* ps = vs + kBlockK * kLdh;
  float* ss = reinterpret_cast<float*>(ps + kBlockK * kLdh);
  float* os = ss + kWarps * 16 * kLdf;

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t b = blockIdx.z, h = blockIdx.y, q0 = int64_t(blockIdx.x) * kBlockQ;
  const T* qb = q + b * d.bs_q + h * kD;
  const T* kb = k + b * d.bs_k + h * kD;
  const T* vb = v + b * d.bs_v + h * kD;

  // Q tile -> shared (in the P area) -> each warp's fragments.
  load_tile(qb, d.ld_q, q0, d.tq, ps);
  __syncthreads();
  wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> qf[kD / 16];
  for (int kk = 0; kk < kD / 16; ++kk)
    wmma::load_matrix_sync(qf[kk], ps + (warp * 16) * kLdh + kk * 16, kLdh);
  T* pw = ps + warp * 16 * kLdh;
  float* sw = ss + warp * 16 * kLdf;
  float* ow = os + warp * 16 * kLdf;
  for (int r = 0; r < 16; ++r) {
    ow[r * kLdf + lane] = 0.0f;
    ow[r * kLdf + lane + 32] = 0.0f;
  }
  __syncthreads();  // every warp has its Q fragments before P overwrites the staging area

  // Row r's running max and sum, the same in every lane.
  float m[16], l[16];
#pragma unroll
  for (int r = 0; r < 16; ++r) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
  }
  for (int64_t j0 = 0; j0 < d.tk; j0 += kBlockK) {
    load_tile(kb, d.ld_k, j0, d.tk, ks);
    load_tile(vb, d.ld_v, j0, d.tk, vs);
    __syncthreads();

    // S = Q K^T: B(k = dim, n = key) = K[key][dim] is column-major.
    for (int n = 0; n < kBlockK / 16; ++n) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.0f);
      for (int kk = 0; kk < kD / 16; ++kk) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> kf;
        wmma::load_matrix_sync(kf, ks + (n * 16) * kLdh + kk * 16, kLdh);
        wmma::mma_sync(acc, qf[kk], kf, acc);
      }
      wmma::store_matrix_sync(sw + n * 16, acc, kLdf, wmma::mem_row_major);
    }
    __syncwarp();

    // Online softmax, one row at a time: lane c holds columns c and c + 32.
    const bool ok0 = j0 + lane < d.tk, ok1 = j0 + lane + 32 < d.tk;
#pragma unroll
    for (int r = 0; r < 16; ++r) {
      const float x0 = ok0 ? sw[r * kLdf + lane] * scale_log2 : -INFINITY;
      const float x1 = ok1 ? sw[r * kLdf + lane + 32] * scale_log2 : -INFINITY;
      const float m_new = fmaxf(m[r], warp_max(fmaxf(x0, x1)));
      const float alpha = exp2f(m[r] - m_new);
      const float p0 = exp2f(x0 - m_new), p1 = exp2f(x1 - m_new);
      pw[r * kLdh + lane] = from_float<T>(p0);
      pw[r * kLdh + lane + 32] = from_float<T>(p1);
      l[r] = l[r] * alpha + warp_sum(p0 + p1);
      m[r] = m_new;
      ow[r * kLdf + lane] *= alpha;
      ow[r * kLdf + lane + 32] *= alpha;
    }
    __syncwarp();

    // O += P V: B(k = key, n = dim) = V[key][dim] is row-major.
    for (int n = 0; n < kD / 16; ++n) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::load_matrix_sync(acc, ow + n * 16, kLdf, wmma::mem_row_major);
      for (int kk = 0; kk < kBlockK / 16; ++kk) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> pf;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> vf;
        wmma::load_matrix_sync(pf, pw + kk * 16, kLdh);
        wmma::load_matrix_sync(vf, vs + (kk * 16) * kLdh + n * 16, kLdh);
        wmma::mma_sync(acc, pf, vf, acc);
      }
      wmma::store_matrix_sync(ow + n * 16, acc, kLdf, wmma::mem_row_major);
    }
    __syncthreads();  // K/V tiles are overwritten next
  }

  __syncwarp();
#pragma unroll
  for (int r = 0; r < 16; ++r) {
    const int64_t qi = q0 + warp * 16 + r;
    if (qi >= d.tq) break;
    const float inv = 1.0f / l[r];
    T* dst = out + b * d.bs_out + qi * d.ld_out + h * kD;
    dst[lane] = from_float<T>(ow[r * kLdf + lane] * inv);
    dst[lane + 32] = from_float<T>(ow[r * kLdf + lane + 32] * inv);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    flash_attention_kernel(const T* q, const T* k, const T* v, FlashAttentionDims d,
                           float scale_log2, T* out) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return;  // the launcher never sends bf16 to these devices
  } else {
    flash_body<T>(q, k, v, d, scale_log2, out);
  }
#else
  flash_body<T>(q, k, v, d, scale_log2, out);
#endif
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

int device_cc_major() {
  int dev = 0, major = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) return 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess)
    return 0;
  return major;
}

template <typename T>
cudaError_t launch_typed(const void* q, const void* k, const void* v, const FlashAttentionDims& d,
                         void* out, cudaStream_t s) {
  static const cudaError_t attr = cudaFuncSetAttribute(
      flash_attention_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(kSmemBytes));
  if (attr != cudaSuccess) return attr;
  const float scale_log2 = float(1.4426950408889634 / sqrt(double(kD)));
  const dim3 grid(unsigned((d.tq + kBlockQ - 1) / kBlockQ), unsigned(d.n_head), unsigned(d.batch));
  flash_attention_kernel<T><<<grid, kThreads, kSmemBytes, s>>>(
      static_cast<const T*>(q), static_cast<const T*>(k), static_cast<const T*>(v), d, scale_log2,
      static_cast<T*>(out));
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_flash_attention(DType dtype, const void* q, const void* k, const void* v,
                                   const FlashAttentionDims& d, void* out, cudaStream_t s) {
  if (d.head_dim != kD || (dtype != DType::kF16 && dtype != DType::kBF16))
    return cudaErrorNotSupported;
  for (const int64_t ld : {d.ld_q, d.ld_k, d.ld_v, d.ld_out, d.bs_q, d.bs_k, d.bs_v, d.bs_out})
    if (ld % 8 != 0) return cudaErrorNotSupported;
  if (!aligned16(q) || !aligned16(k) || !aligned16(v) || !aligned16(out))
    return cudaErrorNotSupported;
  if (d.batch > 65535 || d.n_head > 65535 || d.tk < 1) return cudaErrorNotSupported;
  if (d.tq == 0 || d.batch == 0) return cudaSuccess;
  if (dtype == DType::kBF16) {
    static const int major = device_cc_major();
    if (major < 8) return cudaErrorNotSupported;
    return launch_typed<__nv_bfloat16>(q, k, v, d, out, s);
  }
  return launch_typed<__half>(q, k, v, d, out, s);
}

}  // namespace hark::backends::cuda::detail
