// Flash attention for fp16/bf16 with head_dim 64, no mask, over a batch of independent
// sequences: the encoder's self-attention (Tq = Tk = 1500 per window) and any many-query
// cross-attention, on tensor cores with fp32 accumulation; the scores never reach global memory.
// Two kernels: on sm_80 and later the FlashAttention-2 register layout on mma.sync (below,
// flash_mma_kernel); on sm_75 (fp16 only) the portable WMMA kernel described here.
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
#include "backends/cuda/mma.cuh"

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
__device__ __forceinline__ T from_float(float v) {
  if constexpr (std::is_same_v<T, __half>) {
    return __float2half_rn(v);
  } else {
    return __float2bfloat16_rn(v);
  }
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

// ---- sm_80+: the FlashAttention-2 layout on mma.sync.m16n8k16 ----------------------------------
// A block of 8 warps takes 128 queries of one (batch, head); each warp owns 16 of them. Everything
// per warp stays in registers: the Q fragments (16 rows x 64 dims), the scores S of a 64-key tile
// (8 accumulator tiles of 16 x 8), the output O (8 tiles of 16 x 8) and the running max/sum of
// the lane's two rows (g = lane / 4 and g + 8). The accumulator layout of m16n8k16 is the
// A-operand layout of the next one, so P goes from S to the P V product without touching memory.
// K and V tiles go global -> shared with cp.async, double-buffered (tile j + 1 loads while tile j
// is computed; rows past Tk are zero-filled by the copy), and shared -> registers with ldmatrix
// (K as stored, V transposed by ldmatrix.trans: one instruction per two mma operands). Rows are
// padded by 16 bytes, so the 8 row addresses of each ldmatrix phase hit distinct banks. Twice as
// many queries per block as the WMMA kernel halves the K/V traffic from L2 per query.
// 36 KiB of static shared memory.

constexpr int kMmaBlockQ = 128;
constexpr int kMmaWarps = kMmaBlockQ / 16;
constexpr int kMmaThreads = kMmaWarps * 32;

// Queues the copy of rows [row0, row0 + 64) of a [*, ld] matrix (rows >= n_rows zero-filled)
// into a padded [64, kLdh] shared tile.
template <typename T>
__device__ __forceinline__ void load_tile_async(const T* src, int64_t ld, int row0, int n_rows,
                                                T* dst) {
#pragma unroll
  for (int idx = threadIdx.x; idx < kBlockK * kD / 8; idx += kMmaThreads) {
    const int r = idx / (kD / 8), c = idx % (kD / 8);
    const bool ok = row0 + r < n_rows;
    const T* from = ok ? src + int64_t(row0 + r) * ld + c * 8 : src;
    cp_async16(smem_addr(dst + r * kLdh + c * 8), from, ok ? 16 : 0);
  }
}

// One 64-key tile for one warp's 16 queries: S = Q K^T from the K tile at shared address k_lane
// (this lane's ldmatrix row address), the online softmax (scores scaled by scale_log2 inside the
// exponent: exp2(s * scale - max * scale) is one FFMA + one ex2), O += P V from the V tile at
// v_lane. Masked: keys at or past n_valid (the last, partial tile) get probability 0; full tiles
// skip the comparisons.
template <typename T, bool Masked>
__device__ __forceinline__ void flash_tile(const uint32_t (&qa)[kD / 16][4], uint32_t k_lane,
                                           uint32_t v_lane, int n_valid, int t, float scale_log2,
                                           float (&o)[kD / 8][4], float& m0, float& m1, float& l0,
                                           float& l1) {
  float s[kBlockK / 8][4];
#pragma unroll
  for (int n = 0; n < kBlockK / 8; ++n) {
    s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      // Matrix i of this ldmatrix: keys 8n + (0..7), dims 32 half + 8 i.
      uint32_t bk[4];
      ldmatrix_x4(bk, k_lane + uint32_t(((n * 8) * kLdh + half * 32) * 2));
      const uint32_t b0[2] = {bk[0], bk[1]}, b1[2] = {bk[2], bk[3]};
      mma16816<T>(s[n], qa[half * 2], b0);
      mma16816<T>(s[n], qa[half * 2 + 1], b1);
    }
  }
  float a0, a1;
  if (online_softmax<Masked>(s, n_valid, t, scale_log2, m0, m1, l0, l1, a0, a1))
    rescale_rows(o, a0, a1);
    // O += P V: per 16-key step kk and pair of 8-dim tiles (n, n + 1), one ldmatrix.x4.trans:
    // matrix i covers keys 16 kk + 8 (i % 2) and dims 8 (n + i / 2).
#pragma unroll
  for (int kk = 0; kk < kBlockK / 16; ++kk) {
    const uint32_t pa[4] = {
        pack2<T>(s[2 * kk][0], s[2 * kk][1]), pack2<T>(s[2 * kk][2], s[2 * kk][3]),
        pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]), pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
    for (int n = 0; n < kD / 8; n += 2) {
      uint32_t bv[4];
      ldmatrix_x4_trans(bv, v_lane + uint32_t(((kk * 16) * kLdh + n * 8) * 2));
      const uint32_t b0[2] = {bv[0], bv[1]}, b1[2] = {bv[2], bv[3]};
      mma16816<T>(o[n], pa, b0);
      mma16816<T>(o[n + 1], pa, b1);
    }
  }
}

// Two blocks per SM: 128 registers (a few bytes spill). On the H100 one block per SM at 171
// registers was 3 % slower (turbo bf16, 32 windows: 10.91 vs 10.59 ms per window, 2026-11-23).
template <typename T>
__global__ void __launch_bounds__(kMmaThreads, 2)
    flash_mma_kernel(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                     FlashAttentionDims d, float scale_log2, T* __restrict__ out) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  __shared__ __align__(128) T ks[2][kBlockK * kLdh];
  __shared__ __align__(128) T vs[2][kBlockK * kLdh];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int64_t b = blockIdx.z, h = blockIdx.y, q0 = int64_t(blockIdx.x) * kMmaBlockQ;
  const T* qb = q + b * d.bs_q + h * kD;
  const T* kb = k + b * d.bs_k + h * kD;
  const T* vb = v + b * d.bs_v + h * kD;
  const int64_t r0 = q0 + warp * 16 + g, r1 = r0 + 8;
  const int tk = int(d.tk);  // the launcher checks Tk < 2^31
  const int n_tiles = (tk + kBlockK - 1) / kBlockK;

  load_tile_async(kb, d.ld_k, 0, tk, ks[0]);
  load_tile_async(vb, d.ld_v, 0, tk, vs[0]);
  cp_async_commit();

  uint32_t qa[kD / 16][4];
  load_q_fragments(qb, d.ld_q, r0, r1, d.tq, t, qa);
  float o[kD / 8][4];
#pragma unroll
  for (int n = 0; n < kD / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;

  // This lane's ldmatrix row addresses in each buffer (matrix mat = lane / 8, its row lane % 8):
  // K as stored (keys mrow, dims 8 mat), V for the transposed load (keys 8 (mat % 2) + mrow,
  // dims 8 (mat / 2)); flash_tile adds the constant offsets of each fragment.
  const int mat = lane >> 3, mrow = lane & 7;
  const uint32_t k_lane0 = smem_addr(ks[0] + mrow * kLdh + mat * 8);
  const uint32_t v_lane0 = smem_addr(vs[0] + ((mat & 1) * 8 + mrow) * kLdh + (mat >> 1) * 8);
  constexpr uint32_t kBufBytes = kBlockK * kLdh * sizeof(T);
  for (int tile = 0; tile < n_tiles; ++tile) {
    const int buf = tile & 1;
    if (tile + 1 < n_tiles) {
      // The other buffer was last read in iteration tile - 1, which ended with a barrier.
      load_tile_async(kb, d.ld_k, (tile + 1) * kBlockK, tk, ks[buf ^ 1]);
      load_tile_async(vb, d.ld_v, (tile + 1) * kBlockK, tk, vs[buf ^ 1]);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();  // tile's copies, made by every thread, are visible
    const uint32_t k_lane = k_lane0 + buf * kBufBytes, v_lane = v_lane0 + buf * kBufBytes;
    const int n_valid = tk - tile * kBlockK;
    if (n_valid >= kBlockK) {
      flash_tile<T, false>(qa, k_lane, v_lane, n_valid, t, scale_log2, o, m0, m1, l0, l1);
    } else {
      flash_tile<T, true>(qa, k_lane, v_lane, n_valid, t, scale_log2, o, m0, m1, l0, l1);
    }
    __syncthreads();  // every warp is done with buf before the next iteration refills it
  }

  store_normalized(o, l0, l1, out + b * d.bs_out + h * kD, d.ld_out, r0, r1, d.tq, t);
#else
  __trap();  // the launcher checks that sm_80+ code is loaded; never run the empty body
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
cudaError_t launch_mma(const void* q, const void* k, const void* v, const FlashAttentionDims& d,
                       void* out, cudaStream_t s) {
  const float scale_log2 = float(1.4426950408889634 / sqrt(double(kD)));
  const dim3 grid(unsigned((d.tq + kMmaBlockQ - 1) / kMmaBlockQ), unsigned(d.n_head),
                  unsigned(d.batch));
  flash_mma_kernel<T>
      <<<grid, kMmaThreads, 0, s>>>(static_cast<const T*>(q), static_cast<const T*>(k),
                                    static_cast<const T*>(v), d, scale_log2, static_cast<T*>(out));
  return cudaGetLastError();
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
  if (d.batch > 65535 || d.n_head > 65535 || d.tk < 1 || d.tk > 0x7fffffff)
    return cudaErrorNotSupported;
  if (d.tq == 0 || d.batch == 0) return cudaSuccess;
  // Hopper with sm_90a code: the warpgroup-MMA kernel (flash_attention_sm90.cu).
  if (const cudaError_t e = launch_flash_attention_sm90(dtype, q, k, v, d, out, s);
      e != cudaErrorNotSupported)
    return e;
  static const int major = device_cc_major();
  // The mma kernel's body exists only in code built for sm_80+: a build that reaches this device
  // through older PTX (e.g. HARK_CUDA_ARCHITECTURES=75 on an sm_86 card) must not launch it.
  static const bool mma_loaded = [] {
    cudaFuncAttributes a{};
    if (cudaFuncGetAttributes(&a, flash_mma_kernel<__half>) != cudaSuccess) {
      (void)cudaGetLastError();
      return false;
    }
    return a.ptxVersion >= 80 || a.binaryVersion >= 80;
  }();
  if (major >= 8 && mma_loaded) {
    return dtype == DType::kBF16 ? launch_mma<__nv_bfloat16>(q, k, v, d, out, s)
                                 : launch_mma<__half>(q, k, v, d, out, s);
  }
  if (dtype == DType::kBF16) return cudaErrorNotSupported;  // no bf16 WMMA kernel below sm_80
  return launch_typed<__half>(q, k, v, d, out, s);
}

}  // namespace hark::backends::cuda::detail
