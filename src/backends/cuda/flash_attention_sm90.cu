// Flash attention on Hopper's warpgroup MMA (wgmma, sm_90a): the same contract as the mma.sync
// kernel in flash_attention.cu (fp16/bf16, head_dim 64, no mask, a batch of independent
// sequences; the encoder's self-attention), built for the work that kernel leaves on the table.
// There every warp reads the whole K and V tile from shared memory through ldmatrix for its own
// 16 queries, and shared-memory bandwidth bounds it near half the tensor cores' rate; here the
// tensor cores read K and V straight from shared memory once per warpgroup of 64 queries.
//
// A block of kWarpGroups warpgroups takes 64 kWarpGroups queries of one (batch, head). All threads
// copy 64-key tiles of K and V global -> shared with cp.async into the 128-byte-swizzled layout the
// descriptors describe (rows past Tk zero-filled), kStages buffers deep, two tiles ahead. Per
// tile j each warpgroup issues
//   S_j = Q K_j^T        4 wgmma m64n64k16, A = its Q rows from registers (loaded once), B = the
//                        K tile (K-major: a key's 64 dims are one 128-byte row)
//   O += P_{j-1} V_{j-1} 4 wgmma m64n64k16, A = the previous tile's probabilities from
//                        registers, B = the V tile (MN-major: the same rows, read transposed)
// and runs the online softmax of S_j (in registers; the accumulator layout is mma.sync's, per
// warp) while the tensor cores still work on P_{j-1} V_{j-1}; only then does it rescale O.
//
// Built only for sm_90a (HARK_CUDA_ARCHITECTURES naming 90a; nvcc then defines
// __CUDA_ARCH_FEAT_SM90_ALL): elsewhere the kernel body is a trap and the launcher answers
// cudaErrorNotSupported, so flash_attention.cu uses the mma.sync kernel.
#include <cstdlib>
#include <cstring>

#include "backends/cuda/common.cuh"
#include "backends/cuda/launch.h"
#include "backends/cuda/mma.cuh"

namespace hark::backends::cuda::detail {
namespace {

constexpr int kD = 64;       // head_dim: one 128-byte row per key
constexpr int kBlockN = 64;  // keys per tile
// Two warpgroups (128 queries) per block, two blocks per SM; three per block (one block per SM)
// ran slower (turbo, 256 windows: encoder 1,212 against 1,187 ms).
constexpr int kWarpGroups = 2;
constexpr int kThreads = kWarpGroups * 128;
constexpr int kBlockQ = kWarpGroups * 64;
constexpr int kStages = 4;  // tile j - 1 (V in use), j (K in use), j + 1 and j + 2 (in flight)
constexpr uint32_t kTileBytes = kBlockN * kD * 2;            // 8 KiB
constexpr uint32_t kStageBytes = 2 * kTileBytes;             // K, V
constexpr size_t kSmemBytes = kStages * kStageBytes + 1024;  // + alignment slack

// Queues the copy of rows [row0, row0 + 64) of a [*, ld] matrix (rows >= n_rows zero-filled)
// into the swizzled tile at shared address dst: row r's 16-byte chunk c at r * 128 +
// 16 (c ^ (r % 8)). A warp writes 4 whole rows (512 contiguous bytes): no bank conflicts.
template <typename T>
__device__ __forceinline__ void load_tile_sw128(const T* src, int64_t ld, int row0, int n_rows,
                                                uint32_t dst) {
#pragma unroll
  for (int idx = threadIdx.x; idx < kBlockN * 8; idx += kThreads) {
    const int r = idx >> 3, c = idx & 7;
    const bool ok = row0 + r < n_rows;
    const T* from = ok ? src + int64_t(row0 + r) * ld + c * 8 : src;
    cp_async16(dst + uint32_t(r * 128 + ((c ^ (r & 7)) << 4)), from, ok ? 16 : 0);
  }
}

// P (the m16n8 accumulator layout, probabilities) -> the A fragments of the four 16-key steps.
template <typename T>
__device__ __forceinline__ void pack_p(const float (&s)[8][4], uint32_t (&pa)[4][4]) {
#pragma unroll
  for (int kk = 0; kk < 4; ++kk) {
    pa[kk][0] = pack2<T>(s[2 * kk][0], s[2 * kk][1]);
    pa[kk][1] = pack2<T>(s[2 * kk][2], s[2 * kk][3]);
    pa[kk][2] = pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]);
    pa[kk][3] = pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3]);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads, 2)
    flash_wgmma_kernel(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                       FlashAttentionDims d, float scale_log2, T* __restrict__ out) {
#ifdef HARK_WGMMA
  extern __shared__ unsigned char smem_raw[];
  // kStages x [K, V]; 1024-byte alignment keeps the swizzle phase of every tile at row 0.
  const uint32_t smem0 = (smem_addr(smem_raw) + 1023u) & ~1023u;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int64_t b = blockIdx.z, h = blockIdx.y, q0 = int64_t(blockIdx.x) * kBlockQ;
  const T* qb = q + b * d.bs_q + h * kD;
  const T* kb = k + b * d.bs_k + h * kD;
  const T* vb = v + b * d.bs_v + h * kD;
  // Warp w (of warpgroup w / 4) owns block rows 16 w .. 16 w + 15.
  const int64_t r0 = q0 + warp * 16 + g, r1 = r0 + 8;
  const int tk = int(d.tk);  // the launcher checks Tk < 2^31
  const int n_tiles = (tk + kBlockN - 1) / kBlockN;
  auto stage = [&](int tile) { return smem0 + uint32_t(tile % kStages) * kStageBytes; };
  auto load = [&](int tile) {  // one commit group per tile, empty past the end
    if (tile < n_tiles) {
      load_tile_sw128<T>(kb, d.ld_k, tile * kBlockN, tk, stage(tile));
      load_tile_sw128<T>(vb, d.ld_v, tile * kBlockN, tk, stage(tile) + kTileBytes);
    }
    cp_async_commit();
  };
  load(0);
  load(1);

  uint32_t qa[kD / 16][4];
  load_q_fragments(qb, d.ld_q, r0, r1, d.tq, t, qa);
  float o[kD / 8][4];
#pragma unroll
  for (int n = 0; n < kD / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  float(&of)[32] = reinterpret_cast<float(&)[32]>(o);
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;
  // Every stage's descriptors are this one plus constants: the start address (bits 0-13, in
  // 16-byte units) never carries out of its field, shared memory being < 256 KiB.
  const uint64_t k_desc0 = sw128_desc(smem0), v_desc0 = sw128_desc(smem0 + kTileBytes, kTileBytes);
  uint32_t pa[kBlockN / 16][4];  // P_{j-1}
  float s[kBlockN / 8][4];       // written by S_j's first MMA (ScaleD 0)
  float(&sf)[32] = reinterpret_cast<float(&)[32]>(s);
  // Iteration j: tile j's copies are visible (each thread waits for its own, fences them before
  // the tensor cores' reads, then the barrier), which also means every warpgroup is past
  // iteration j - 1, so tile j - 2's buffer is free for tile j + 2. Then S_j = Q K_j^T. No MMA
  // sits in a branch (ptxas would serialise them): the loop is the same for every tile but the
  // first, and masking the partial last tile is a branch of its own.
  auto begin_tile = [&](int tile) {
    cp_async_wait<1>();
    fence_proxy_async_shared();
    __syncthreads();
    load(tile + 2);
    const uint64_t k_desc = k_desc0 + uint64_t(tile % kStages) * (kStageBytes >> 4);
#pragma unroll
    for (int i = 0; i < 32; ++i) fence_operand(of[i]);
    wgmma_fence();
    // Dims 16 kk .. 16 kk + 15 of every key: 32 bytes (2 descriptor units) into each row.
    wgmma_m64n64k16<T, 0, 0>(sf, qa[0], k_desc);
    wgmma_m64n64k16<T, 0, 1>(sf, qa[1], k_desc + 2);
    wgmma_m64n64k16<T, 0, 1>(sf, qa[2], k_desc + 4);
    wgmma_m64n64k16<T, 0, 1>(sf, qa[3], k_desc + 6);
    wgmma_commit();
  };
  // O += P_{j-1} V_{j-1}: keys 16 kk .. 16 kk + 15 are two 8-row groups, 2048 bytes into the
  // V tile.
  auto issue_pv = [&](int tile) {
    const uint64_t v_desc = v_desc0 + uint64_t(tile % kStages) * (kStageBytes >> 4);
#pragma unroll
    for (int kk = 0; kk < kBlockN / 16; ++kk)
      wgmma_m64n64k16<T, 1, 1>(of, pa[kk], v_desc + uint64_t(kk) * (2048 >> 4));
    wgmma_commit();
  };
  float a0, a1;
  begin_tile(0);
  wgmma_wait<0>();
#pragma unroll
  for (int i = 0; i < 32; ++i) fence_operand(sf[i]);
  online_softmax<true>(s, tk, t, scale_log2, m0, m1, l0, l1, a0, a1);
  pack_p<T>(s, pa);
  for (int tile = 1; tile < n_tiles; ++tile) {
    begin_tile(tile);
    issue_pv(tile - 1);
    wgmma_wait<1>();  // S_j; P_{j-1} V_{j-1} may still run during the softmax
#pragma unroll
    for (int i = 0; i < 32; ++i) fence_operand(sf[i]);
    // Only the last tile can be partial (a uniform branch, no MMA inside).
    if (const int n_valid = tk - tile * kBlockN; n_valid < kBlockN) mask_keys(s, n_valid, t);
    const bool moved = online_softmax<false>(s, kBlockN, t, scale_log2, m0, m1, l0, l1, a0, a1);
    wgmma_wait<0>();
#pragma unroll
    for (int i = 0; i < 32; ++i) fence_operand(of[i]);
    if (moved) rescale_rows(o, a0, a1);  // warp-uniform; most tiles skip it
    pack_p<T>(s, pa);
  }
  // The last tile's P V.
#pragma unroll
  for (int i = 0; i < 32; ++i) fence_operand(of[i]);
  wgmma_fence();
  issue_pv(n_tiles - 1);
  wgmma_wait<0>();
#pragma unroll
  for (int i = 0; i < 32; ++i) fence_operand(of[i]);

  store_normalized(o, l0, l1, out + b * d.bs_out + h * kD, d.ld_out, r0, r1, d.tq, t);
#else
  __trap();  // the launcher runs this kernel only where its sm_90a body was built
#endif
}

// Whether this build carries sm_90a code (CMake defines HARK_CUDA_SM90A when
// HARK_CUDA_ARCHITECTURES names 90a), the current device is exactly compute capability 9.0 (the
// only one that runs sm_90a code) and HARK_FLASH is not "mma" (a switch for comparisons).
bool wgmma_usable() {
#ifdef HARK_CUDA_SM90A
  const char* env = std::getenv("HARK_FLASH");
  if (env != nullptr && std::strcmp(env, "mma") == 0) return false;
  int dev = 0, major = 0, minor = 0;
  if (cudaGetDevice(&dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return major == 9 && minor == 0;
#else
  return false;
#endif
}

template <typename T>
cudaError_t launch_typed(const void* q, const void* k, const void* v, const FlashAttentionDims& d,
                         void* out, cudaStream_t s) {
  static const cudaError_t attr = cudaFuncSetAttribute(
      flash_wgmma_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(kSmemBytes));
  if (attr != cudaSuccess) return attr;
  const float scale_log2 = float(1.4426950408889634 / sqrt(double(kD)));
  const dim3 grid(unsigned((d.tq + kBlockQ - 1) / kBlockQ), unsigned(d.n_head), unsigned(d.batch));
  flash_wgmma_kernel<T><<<grid, kThreads, kSmemBytes, s>>>(
      static_cast<const T*>(q), static_cast<const T*>(k), static_cast<const T*>(v), d, scale_log2,
      static_cast<T*>(out));
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_flash_attention_sm90(DType dtype, const void* q, const void* k, const void* v,
                                        const FlashAttentionDims& d, void* out, cudaStream_t s) {
  static const bool usable = wgmma_usable();
  if (!usable) return cudaErrorNotSupported;
  return dtype == DType::kBF16 ? launch_typed<__nv_bfloat16>(q, k, v, d, out, s)
                               : launch_typed<__half>(q, k, v, d, out, s);
}

}  // namespace hark::backends::cuda::detail
