// GPU machine probe (not part of the build): does cuBLASLt on this device run fp8 (e4m3) GEMMs
// with per-row / per-column (outer vector) fp32 scales, bf16 output and a bias epilogue, and how
// fast, next to bf16 on the encoder's shapes? Checks the result of a small case against a host
// reference first. Build and run:
//   nvcc -O2 -arch=sm_90 -o /tmp/probe_fp8 tools/gpu/probe_fp8.cu -lcublasLt && /tmp/probe_fp8
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#define CK(x)                                                          \
  do {                                                                 \
    auto e_ = (x);                                                     \
    if (int(e_) != 0) {                                                \
      std::printf("FAIL %s -> %d (line %d)\n", #x, int(e_), __LINE__); \
      return false;                                                    \
    }                                                                  \
  } while (0)

cublasLtHandle_t lt;
void* ws;
const size_t kWs = size_t(32) << 20;

// D[n, m] (column-major, = row-major y[m, n]) = (a_scale[n] * A[k, n]^T) (b_scale[m] * B[k, m]) +
// bias
bool run(bool fp8, int m, int n, int k, const void* a, const void* b, const float* sa,
         const float* sb, const void* bias, void* d, int iters, float* ms, bool outer) {
  cublasLtMatmulDesc_t desc;
  CK(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  cublasOperation_t t = CUBLAS_OP_T, nn = CUBLAS_OP_N;
  CK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof(t)));
  CK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &nn, sizeof(nn)));
  cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
  CK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
  CK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
  cudaDataType_t bt = CUDA_R_16BF;
  CK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof(bt)));
  cudaDataType_t in = fp8 ? CUDA_R_8F_E4M3 : CUDA_R_16BF;
  if (fp8) {
    int32_t mode = outer ? CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F
                         : CUBLASLT_MATMUL_MATRIX_SCALE_SCALAR_32F;
    CK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &mode,
                                      sizeof(mode)));
    CK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &mode,
                                      sizeof(mode)));
    CK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &sa, sizeof(sa)));
    CK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &sb, sizeof(sb)));
  }
  cublasLtMatrixLayout_t la, lb, lc;
  CK(cublasLtMatrixLayoutCreate(&la, in, k, n, k));
  CK(cublasLtMatrixLayoutCreate(&lb, in, k, m, k));
  CK(cublasLtMatrixLayoutCreate(&lc, CUDA_R_16BF, n, m, n));
  cublasLtMatmulPreference_t pref;
  CK(cublasLtMatmulPreferenceCreate(&pref));
  CK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &kWs,
                                          sizeof(kWs)));
  cublasLtMatmulHeuristicResult_t res{};
  int count = 0;
  CK(cublasLtMatmulAlgoGetHeuristic(lt, desc, la, lb, lc, lc, pref, 1, &res, &count));
  if (count == 0) {
    std::printf("no algorithm\n");
    return false;
  }
  float alpha = 1.0f, beta = 0.0f;
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  CK(cublasLtMatmul(lt, desc, &alpha, a, la, b, lb, &beta, d, lc, d, lc, &res.algo, ws, kWs, 0));
  CK(cudaDeviceSynchronize());
  cudaEventRecord(e0);
  for (int i = 0; i < iters; ++i)
    CK(cublasLtMatmul(lt, desc, &alpha, a, la, b, lb, &beta, d, lc, d, lc, &res.algo, ws, kWs, 0));
  cudaEventRecord(e1);
  CK(cudaEventSynchronize(e1));
  cudaEventElapsedTime(ms, e0, e1);
  *ms /= float(iters);
  return true;
}

int main() {
  cublasLtCreate(&lt);
  cudaMalloc(&ws, kWs);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (const bool outer : {true, false}) {
    // Correctness on a small case: values exactly representable in e4m3 (k multiples of 1/8).
    const int m = 64, n = 48, k = 96;
    std::vector<__nv_fp8_e4m3> ha(size_t(n) * k), hb(size_t(m) * k);
    std::vector<float> fa(ha.size()), fb(hb.size()), sa(n), sb(m);
    for (size_t i = 0; i < ha.size(); ++i)
      fa[i] = std::round(u(rng) * 16) / 8, ha[i] = __nv_fp8_e4m3(fa[i]);
    for (size_t i = 0; i < hb.size(); ++i)
      fb[i] = std::round(u(rng) * 16) / 8, hb[i] = __nv_fp8_e4m3(fb[i]);
    for (int i = 0; i < n; ++i) sa[i] = outer ? 0.5f + 0.01f * i : 0.75f;
    for (int i = 0; i < m; ++i) sb[i] = outer ? 1.0f + 0.02f * i : 1.25f;
    std::vector<__nv_bfloat16> hbias(n);
    for (int i = 0; i < n; ++i) hbias[i] = __float2bfloat16(0.25f * (i % 5));
    void *da, *db, *dd, *dbias;
    float *dsa, *dsb;
    cudaMalloc(&da, ha.size());
    cudaMalloc(&db, hb.size());
    cudaMalloc(&dd, size_t(m) * n * 2);
    cudaMalloc(&dbias, n * 2);
    cudaMalloc(&dsa, n * 4);
    cudaMalloc(&dsb, m * 4);
    cudaMemcpy(da, ha.data(), ha.size(), cudaMemcpyHostToDevice);
    cudaMemcpy(db, hb.data(), hb.size(), cudaMemcpyHostToDevice);
    cudaMemcpy(dbias, hbias.data(), n * 2, cudaMemcpyHostToDevice);
    cudaMemcpy(dsa, sa.data(), n * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(dsb, sb.data(), m * 4, cudaMemcpyHostToDevice);
    float ms = 0;
    std::printf("== fp8 %s scales\n", outer ? "outer-vector" : "scalar");
    if (!run(true, m, n, k, da, db, dsa, dsb, dbias, dd, 1, &ms, outer)) continue;
    std::vector<__nv_bfloat16> hd(size_t(m) * n);
    cudaMemcpy(hd.data(), dd, hd.size() * 2, cudaMemcpyDeviceToHost);
    double err = 0, ref_n = 0;
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        double s = 0;
        for (int p = 0; p < k; ++p) s += double(fa[size_t(j) * k + p]) * fb[size_t(i) * k + p];
        s = s * sa[outer ? j : 0] * sb[outer ? i : 0] + __bfloat162float(hbias[j]);
        const double g = __bfloat162float(hd[size_t(i) * n + j]);
        err += (g - s) * (g - s);
        ref_n += s * s;
      }
    std::printf("small case rel error %.3g\n", std::sqrt(err / ref_n));
    // Speed on the encoder's shapes (32 windows: m = 48000).
    const int M = 48000;
    struct S {
      int n, k;
    } shapes[] = {{3840, 1280}, {1280, 1280}, {5120, 1280}, {1280, 5120}};
    for (const S& s : shapes) {
      void *A, *B, *D, *bias;
      float *SA, *SB;
      cudaMalloc(&A, size_t(s.n) * s.k * 2);
      cudaMalloc(&B, size_t(M) * s.k * 2);
      cudaMalloc(&D, size_t(M) * s.n * 2);
      cudaMalloc(&bias, s.n * 2);
      cudaMalloc(&SA, s.n * 4);
      cudaMalloc(&SB, M * 4);
      cudaMemset(A, 0x11, size_t(s.n) * s.k * 2);
      cudaMemset(B, 0x11, size_t(M) * s.k * 2);
      cudaMemset(bias, 0, s.n * 2);
      std::vector<float> ones(M, 1.0f);
      cudaMemcpy(SA, ones.data(), s.n * 4, cudaMemcpyHostToDevice);
      cudaMemcpy(SB, ones.data(), M * 4, cudaMemcpyHostToDevice);
      float t8 = 0, t16 = 0;
      const bool ok8 = run(true, M, s.n, s.k, A, B, SA, SB, bias, D, 20, &t8, outer);
      const bool ok16 = run(false, M, s.n, s.k, A, B, nullptr, nullptr, bias, D, 20, &t16, outer);
      const double fl = 2.0 * M * s.n * s.k;
      std::printf("n=%5d k=%5d  fp8 %s %.3f ms (%.0f TFLOP/s)  bf16 %s %.3f ms (%.0f TFLOP/s)\n",
                  s.n, s.k, ok8 ? "ok" : "--", t8, fl / t8 / 1e9, ok16 ? "ok" : "--", t16,
                  fl / t16 / 1e9);
      cudaFree(A), cudaFree(B), cudaFree(D), cudaFree(bias), cudaFree(SA), cudaFree(SB);
    }
  }
  return 0;
}
