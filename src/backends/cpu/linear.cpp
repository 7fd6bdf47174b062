// linear: one OpenBLAS call. The bias is broadcast into y first and the GEMM run with beta = 1:
// OpenBLAS makes a pass over C before its kernel in any case (zeroing it when beta = 0), so this
// adds the bias for free instead of costing a read-modify-write pass afterwards. A single row
// (a decoder step) goes to GEMV, which OpenBLAS 0.3.21 does not choose on its own.
#include <cblas.h>

#include <cstring>

#include "backends/cpu/kernels.h"
#include "backends/cpu/threads.h"

namespace hark::backends::cpu {

namespace {

void fill_rows(float* y, const float* bias, int64_t m, int64_t n) {
  const int nt = threads_for(m * n, int64_t(1) << 15);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t r = 0; r < m; ++r) std::memcpy(y + r * n, bias, size_t(n) * sizeof(float));
}

}  // namespace

void linear(const float* x, const float* w, const float* bias, float* y, int64_t m, int64_t n,
            int64_t k) {
  if (m == 0 || n == 0) return;
  const float beta = bias ? 1.0f : 0.0f;
  if (bias) fill_rows(y, bias, m, n);
  if (k == 0) {
    if (!bias) std::memset(y, 0, size_t(m * n) * sizeof(float));
    return;
  }
  if (m == 1) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, blasint(n), blasint(k), 1.0f, w, blasint(k), x, 1,
                beta, y, 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(m), blasint(n), blasint(k), 1.0f, x,
              blasint(k), w, blasint(k), beta, y, blasint(n));
}

}  // namespace hark::backends::cpu
