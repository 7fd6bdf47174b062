// Private to src/backends/cuda: the tensor-core and asynchronous-copy primitives of the
// attention kernels, as inline PTX. sm_80+: mma.sync.m16n8k16 (fp32 accumulators), ldmatrix,
// cp.async, ex2.approx. sm_90a only (the arch-specific target, where nvcc defines
// __CUDA_ARCH_FEAT_SM90_ALL): the warpgroup MMA (wgmma) with its shared-memory descriptors and
// fences. Outside those targets the wrappers compile to nothing; their callers never run there.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

namespace hark::backends::cuda::detail {

template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  if constexpr (std::is_same_v<T, __half>) {
    const __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&v);
  } else {
    const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&v);
  }
}

template <typename T>
__device__ __forceinline__ void mma16816(float* c, const uint32_t* a, const uint32_t* b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if constexpr (std::is_same_v<T, __half>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
#endif
}

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return uint32_t(__cvta_generic_to_shared(p));
}

// Four 8x8 16-bit matrices; lanes 8i..8i+7 give the row addresses of matrix i, r[i] its fragment.
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
#endif
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t addr) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
#endif
}

// 16 bytes global -> shared, asynchronously; src_bytes 0 writes zeros (rows past the end).
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, int src_bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
               "r"(src_bytes));
#endif
}
__device__ __forceinline__ void cp_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}

__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

// ---- flash attention's online softmax on the m16n8 accumulator layout ---------------------------
// Keys at or past n_valid of a 64-key tile of scores (the m16n8 layout) -> -inf.
__device__ __forceinline__ void mask_keys(float (&s)[8][4], int n_valid, int t) {
#pragma unroll
  for (int n = 0; n < 8; ++n) {
    const int key = n * 8 + t * 2;
    if (key >= n_valid) s[n][0] = s[n][2] = -INFINITY;
    if (key + 1 >= n_valid) s[n][1] = s[n][3] = -INFINITY;
  }
}

// One 64-key tile of scores for a lane's two query rows (s[n][0..1]: row g, keys 8 n + 2 t + 0..1;
// s[n][2..3]: row g + 8): masks keys at or past n_valid when Masked (the last, partial tile),
// turns the scores into probabilities against each row's reference max m, adds them to the lane's
// partial row sums l (reduced over the 4 lanes of a row once at the end) and returns whether the
// output accumulator's rows must be rescaled by a0, a1 (rescale_rows). Scores are scaled by
// scale_log2 inside the exponent: exp2(s * scale - m * scale) is one FFMA + one ex2.
// The reference max moves lazily: only when some row of the warp has grown by more than 2^8 in
// probability (8 in the scaled log2 domain; always on the first tile, m = -inf). Otherwise a0 =
// a1 = 1, O and l are not touched, and a probability may reach 2^8 meanwhile, which fp32 sums
// and the 16-bit P (relative precision) hold; O / l at the end is the same softmax.
template <bool Masked>
__device__ __forceinline__ bool online_softmax(float (&s)[8][4], int n_valid, int t,
                                               float scale_log2, float& m0, float& m1, float& l0,
                                               float& l1, float& a0, float& a1) {
  if constexpr (Masked) mask_keys(s, n_valid, t);
  float mx0 = m0, mx1 = m1;  // running max of the raw scores
#pragma unroll
  for (int n = 0; n < 8; ++n) {
    mx0 = fmaxf(mx0, fmaxf(s[n][0], s[n][1]));
    mx1 = fmaxf(mx1, fmaxf(s[n][2], s[n][3]));
  }
  mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
  mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
  mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
  mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
  // The first tile always has a real key (Tk >= 1), so mx is finite from here on.
  const bool grown = (mx0 - m0) * scale_log2 > 8.0f || (mx1 - m1) * scale_log2 > 8.0f;
  const bool moved = __any_sync(0xffffffffu, grown);
  a0 = a1 = 1.0f;
  if (moved) {
    a0 = fast_exp2((m0 - mx0) * scale_log2);
    a1 = fast_exp2((m1 - mx1) * scale_log2);
    m0 = mx0;
    m1 = mx1;
    l0 *= a0;
    l1 *= a1;
  }
  const float ms0 = m0 * scale_log2, ms1 = m1 * scale_log2;
  float sum0 = 0.0f, sum1 = 0.0f;
#pragma unroll
  for (int n = 0; n < 8; ++n) {
    s[n][0] = fast_exp2(fmaf(s[n][0], scale_log2, -ms0));
    s[n][1] = fast_exp2(fmaf(s[n][1], scale_log2, -ms0));
    s[n][2] = fast_exp2(fmaf(s[n][2], scale_log2, -ms1));
    s[n][3] = fast_exp2(fmaf(s[n][3], scale_log2, -ms1));
    sum0 += s[n][0] + s[n][1];
    sum1 += s[n][2] + s[n][3];
  }
  l0 += sum0;
  l1 += sum1;
  return moved;
}

// o (the m16n8 accumulator layout over 64 columns): row g times a0, row g + 8 times a1.
__device__ __forceinline__ void rescale_rows(float (&o)[8][4], float a0, float a1) {
#pragma unroll
  for (int n = 0; n < 8; ++n) {
    o[n][0] *= a0;
    o[n][1] *= a0;
    o[n][2] *= a1;
    o[n][3] *= a1;
  }
}

// A warp's 16 query rows (this lane's r0 = row g and r1 = g + 8; rows at or past tq read as 0)
// over 64 dims as the four m16n8k16 A fragments, straight from global memory.
template <typename T>
__device__ __forceinline__ void load_q_fragments(const T* qb, int64_t ld, int64_t r0, int64_t r1,
                                                 int64_t tq, int t, uint32_t (&qa)[4][4]) {
#pragma unroll
  for (int kk = 0; kk < 4; ++kk) {
    const int c = kk * 16 + t * 2;
    qa[kk][0] = r0 < tq ? *reinterpret_cast<const uint32_t*>(qb + r0 * ld + c) : 0u;
    qa[kk][1] = r1 < tq ? *reinterpret_cast<const uint32_t*>(qb + r1 * ld + c) : 0u;
    qa[kk][2] = r0 < tq ? *reinterpret_cast<const uint32_t*>(qb + r0 * ld + c + 8) : 0u;
    qa[kk][3] = r1 < tq ? *reinterpret_cast<const uint32_t*>(qb + r1 * ld + c + 8) : 0u;
  }
}

// O / l for a lane's two rows (the m16n8 layout over 64 dims) into rows r0 and r1 of out (row
// stride ld; rows at or past tq skipped), the lane's partial row sums first reduced over the
// row's 4 lanes.
template <typename T>
__device__ __forceinline__ void store_normalized(const float (&o)[8][4], float l0, float l1, T* out,
                                                 int64_t ld, int64_t r0, int64_t r1, int64_t tq,
                                                 int t) {
  l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
  l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
  const float inv0 = 1.0f / l0, inv1 = 1.0f / l1;
#pragma unroll
  for (int n = 0; n < 8; ++n) {
    const int c = n * 8 + t * 2;
    if (r0 < tq)
      *reinterpret_cast<uint32_t*>(out + r0 * ld + c) = pack2<T>(o[n][0] * inv0, o[n][1] * inv0);
    if (r1 < tq)
      *reinterpret_cast<uint32_t*>(out + r1 * ld + c) = pack2<T>(o[n][2] * inv1, o[n][3] * inv1);
  }
}

// ---- sm_90a: warpgroup MMA ----------------------------------------------------------------------
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define HARK_WGMMA 1
#endif

// Shared-memory matrix descriptor for the 128-byte swizzle: rows of 128 bytes whose 16-byte
// chunks are stored at chunk ^ (row % 8), in atoms of 8 rows (1024 bytes, 1024-byte aligned).
// K-major operands step 8-row groups by SBO = 1024 and advance along K by adding bytes to the
// start address inside the row; MN-major operands (rows = K) step 8-row groups along K by SBO and
// atoms along MN by LBO (unused when MN is 64 16-bit elements, one atom wide).
__device__ __forceinline__ uint64_t sw128_desc(uint32_t smem_byte_addr, uint32_t lbo_bytes = 16) {
  return uint64_t((smem_byte_addr & 0x3FFFFu) >> 4) | (uint64_t((lbo_bytes >> 4) & 0x3FFFu) << 16) |
         (uint64_t(1024 >> 4) << 32) | (uint64_t(1) << 62);
}

__device__ __forceinline__ void wgmma_fence() {
#ifdef HARK_WGMMA
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void wgmma_commit() {
#ifdef HARK_WGMMA
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}
template <int N>
__device__ __forceinline__ void wgmma_wait() {
#ifdef HARK_WGMMA
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
#endif
}
// Keeps the compiler from moving reads or writes of an accumulator register across the
// asynchronous MMA that owns it (the register is "modified" here, after the wait / before issue).
__device__ __forceinline__ void fence_operand(float& r) { asm volatile("" : "+f"(r)::"memory"); }
// Orders this thread's ordinary (generic-proxy) shared-memory writes, cp.async's included, before
// the tensor cores' (async-proxy) reads; each writing thread runs it before the barrier.
__device__ __forceinline__ void fence_proxy_async_shared() {
#ifdef HARK_WGMMA
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}

// D[64 x 64] (+)= A[64 x 16] B[16 x 64] for one warpgroup, fp32 accumulators. A in registers (per
// warp the m16n8k16 A-fragment layout of its 16 rows), B through a descriptor: TransB 0 for a
// K-major B (B[k][n] at n * row + k), 1 for MN-major (B[k][n] at k * row + n). ScaleD 0 ignores
// (and does not read) the old D. d[4 i + j]: row 16 warp + g + 8 (j / 2), column 8 i + 2 t +
// (j % 2).
template <typename T, int TransB, int ScaleD>
__device__ __forceinline__ void wgmma_m64n64k16(float (&d)[32], const uint32_t (&a)[4],
                                                uint64_t desc_b) {
#ifdef HARK_WGMMA
#define HARK_WGMMA_N64(TYPE, C)                                                                   \
  asm volatile(                                                                                   \
      "{\n.reg .pred p;\nsetp.ne.b32 p, %38, 0;\n"                                                \
      "wgmma.mma_async.sync.aligned.m64n64k16.f32." TYPE "." TYPE                                 \
      " {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, "   \
      "%19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, "  \
      "%36, p, 1, 1, %37;\n}\n"                                                                   \
      : C(d[0]), C(d[1]), C(d[2]), C(d[3]), C(d[4]), C(d[5]), C(d[6]), C(d[7]), C(d[8]), C(d[9]), \
        C(d[10]), C(d[11]), C(d[12]), C(d[13]), C(d[14]), C(d[15]), C(d[16]), C(d[17]), C(d[18]), \
        C(d[19]), C(d[20]), C(d[21]), C(d[22]), C(d[23]), C(d[24]), C(d[25]), C(d[26]), C(d[27]), \
        C(d[28]), C(d[29]), C(d[30]), C(d[31])                                                    \
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "n"(TransB), "r"(ScaleD))
  if constexpr (std::is_same_v<T, __half> && ScaleD != 0) {
    HARK_WGMMA_N64("f16", "+f");
  } else if constexpr (std::is_same_v<T, __half>) {
    HARK_WGMMA_N64("f16", "=f");
  } else if constexpr (ScaleD != 0) {
    HARK_WGMMA_N64("bf16", "+f");
  } else {
    HARK_WGMMA_N64("bf16", "=f");
  }
#undef HARK_WGMMA_N64
#endif
}

}  // namespace hark::backends::cuda::detail
