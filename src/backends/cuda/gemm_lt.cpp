// cuBLASLt GEMMs with bias / bias + GELU epilogues. The heuristic's choice is cached per
// (dtype, m, n, k, epilogue, pointer alignments); descriptors are made per call (host work of a
// few microseconds, next to GEMMs of hundreds of rows).
#include "backends/cuda/gemm_lt.h"

#include <cublasLt.h>

#include <map>
#include <mutex>
#include <tuple>

#include "backends/cuda/check.h"

namespace hark::backends::cuda::detail {
namespace {

void check_lt(cublasStatus_t status, const char* what) { check(status, what); }

cublasLtHandle_t lt_handle() {
  static cublasLtHandle_t h = [] {
    cublasLtHandle_t made = nullptr;
    check_lt(cublasLtCreate(&made), "cublasLtCreate");
    return made;
  }();
  return h;
}

// Owns one call's descriptors.
struct LtCall {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  ~LtCall() {
    if (c) cublasLtMatrixLayoutDestroy(c);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (desc) cublasLtMatmulDescDestroy(desc);
  }
};

int alignment(const void* p) {
  const auto v = reinterpret_cast<uintptr_t>(p);
  return v % 16 == 0 ? 16 : v % 8 == 0 ? 8 : v % 4 == 0 ? 4 : 2;
}

using Key = std::tuple<int, int64_t, int64_t, int64_t, bool, int, int, int, int>;
struct Choice {
  bool found = false;
  cublasLtMatmulAlgo_t algo{};
};

}  // namespace

bool gemm_bias_lt(DType dtype, const void* x, const void* w, const void* bias, void* y, int64_t m,
                  int64_t n, int64_t k, bool gelu) {
  const cudaDataType_t t = dtype == DType::kF16 ? CUDA_R_16F : CUDA_R_16BF;
  // Column-major view, as kernels.cpp's gemm: D[n, m] = W^T · X with W stored [k, n] (op T) and X
  // [k, m]; the bias runs along D's rows (n of them).
  LtCall call;
  check_lt(cublasLtMatmulDescCreate(&call.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F),
           "cublasLtMatmulDescCreate");
  const cublasOperation_t op_t = CUBLAS_OP_T, op_n = CUBLAS_OP_N;
  check_lt(
      cublasLtMatmulDescSetAttribute(call.desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_t, sizeof(op_t)),
      "cublasLt TRANSA");
  check_lt(
      cublasLtMatmulDescSetAttribute(call.desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_n, sizeof(op_n)),
      "cublasLt TRANSB");
  const cublasLtEpilogue_t epi = bias
                                     ? (gelu ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_BIAS)
                                     : (gelu ? CUBLASLT_EPILOGUE_GELU : CUBLASLT_EPILOGUE_DEFAULT);
  check_lt(
      cublasLtMatmulDescSetAttribute(call.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)),
      "cublasLt EPILOGUE");
  if (bias) {
    check_lt(cublasLtMatmulDescSetAttribute(call.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
                                            sizeof(bias)),
             "cublasLt BIAS_POINTER");
    check_lt(cublasLtMatmulDescSetAttribute(call.desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &t,
                                            sizeof(t)),
             "cublasLt BIAS_DATA_TYPE");
  }
  check_lt(cublasLtMatrixLayoutCreate(&call.a, t, uint64_t(k), uint64_t(n), k),
           "cublasLtMatrixLayoutCreate(A)");
  check_lt(cublasLtMatrixLayoutCreate(&call.b, t, uint64_t(k), uint64_t(m), k),
           "cublasLtMatrixLayoutCreate(B)");
  check_lt(cublasLtMatrixLayoutCreate(&call.c, t, uint64_t(n), uint64_t(m), n),
           "cublasLtMatrixLayoutCreate(C)");

  static std::mutex mu;
  static std::map<Key, Choice> cache;
  const Key key{int(dtype),   m,           n, k, gelu, bias ? alignment(bias) : 0, alignment(x),
                alignment(w), alignment(y)};
  Choice choice;
  {
    std::lock_guard lock(mu);
    auto it = cache.find(key);
    if (it == cache.end()) {
      cublasLtMatmulPreference_t pref = nullptr;
      check_lt(cublasLtMatmulPreferenceCreate(&pref), "cublasLtMatmulPreferenceCreate");
      const size_t ws = blas_workspace_bytes();
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                           sizeof(ws));
      // Only algorithms that work at these pointers' alignments (a row view can start anywhere).
      const uint32_t al_a = uint32_t(alignment(w)), al_b = uint32_t(alignment(x)),
                     al_c = uint32_t(alignment(y));
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a,
                                           sizeof(al_a));
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b,
                                           sizeof(al_b));
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_c,
                                           sizeof(al_c));
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_c,
                                           sizeof(al_c));
      cublasLtMatmulHeuristicResult_t result{};
      int count = 0;
      const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(
          lt_handle(), call.desc, call.a, call.b, call.c, call.c, pref, 1, &result, &count);
      cublasLtMatmulPreferenceDestroy(pref);
      Choice made;
      if (st == CUBLAS_STATUS_SUCCESS && count > 0 && result.state == CUBLAS_STATUS_SUCCESS) {
        made.found = true;
        made.algo = result.algo;
      }
      it = cache.emplace(key, made).first;
    }
    choice = it->second;
  }
  if (!choice.found) return false;
  const float alpha = 1.0f, beta = 0.0f;
  const cublasStatus_t st =
      cublasLtMatmul(lt_handle(), call.desc, &alpha, w, call.a, x, call.b, &beta, y, call.c, y,
                     call.c, &choice.algo, blas_workspace(), blas_workspace_bytes(), stream());
  if (st == CUBLAS_STATUS_NOT_SUPPORTED) {  // checked before anything is queued: fall back
    std::lock_guard lock(mu);
    cache[key].found = false;
    return false;
  }
  check_lt(st, "cublasLtMatmul");
  return true;
}

}  // namespace hark::backends::cuda::detail
