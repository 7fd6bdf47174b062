// linear over int8 weights (weight-only quantisation, per-output-channel scales) and the
// quantisation itself. The reference arithmetic: each weight row is dequantised to fp32
// (q * scale, exact up to one fp32 rounding) and OpenBLAS accumulates in fp32.
// - Few rows (decoder steps): the output channels are split into chunks of about 256 KiB of
//   dequantised weights; each thread dequantises its chunk into an L2-resident buffer and runs a
//   single-threaded GEMV/GEMM on it, so the weights stream from memory once, as int8.
// - Many rows (the encoder): the whole weight is dequantised into a temporary buffer (in
//   parallel) and one multi-threaded SGEMM runs over it; the buffer is freed on return, so no
//   fp32 copy of the weight stays resident.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "backends/cpu/kernels.h"
#include "backends/cpu/threads.h"

namespace hark::backends::cpu {

namespace {

constexpr int64_t kChunkFloats = 64 * 1024;  // dequantised weights per chunk (256 KiB)
constexpr int64_t kFewRows = 16;             // up to this many rows: the chunked path

void dequantize_rows(const int8_t* q, const float* scale, int64_t rows, int64_t k, float* w) {
  for (int64_t r = 0; r < rows; ++r) {
    const int8_t* src = q + r * k;
    float* dst = w + r * k;
    const float s = scale[r];
    for (int64_t j = 0; j < k; ++j) dst[j] = float(src[j]) * s;
  }
}

void fill_bias(float* y, const float* bias, int64_t m, int64_t n, int64_t n0, int64_t cols) {
  for (int64_t r = 0; r < m; ++r)
    std::memcpy(y + r * n + n0, bias + n0, size_t(cols) * sizeof(float));
}

// y[:, n0:n0+cols] (+)= x · w_chunk^T, single-threaded BLAS when called inside a parallel region.
void gemm_chunk(const float* x, const float* w, float beta, float* y, int64_t m, int64_t n,
                int64_t k, int64_t n0, int64_t cols) {
  if (m == 1) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, blasint(cols), blasint(k), 1.0f, w, blasint(k), x, 1,
                beta, y + n0, 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(m), blasint(cols), blasint(k), 1.0f,
              x, blasint(k), w, blasint(k), beta, y + n0, blasint(n));
}

void few_rows(const float* x, const int8_t* q, const float* scale, const float* bias, float* y,
              int64_t m, int64_t n, int64_t k) {
  const int threads = num_threads();
  // Chunks small enough to stay in L2, and enough of them to keep every thread busy.
  int64_t rows = std::max<int64_t>(8, kChunkFloats / k);
  rows = std::min(rows, std::max<int64_t>(8, (n + 4 * threads - 1) / (4 * threads)));
  rows = std::min(rows, n);
  const int64_t chunks = (n + rows - 1) / rows;
  int nt = threads_for(m * n * k, int64_t(1) << 16);
  nt = int(std::min<int64_t>(nt, chunks));
  const float beta = bias ? 1.0f : 0.0f;
  // Allocated here: an exception must not leave an OpenMP region.
  std::unique_ptr<float[]> buffers(new float[size_t(nt * rows * k)]);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    float* w = buffers.get() + int64_t(omp_get_thread_num()) * rows * k;
#pragma omp for schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t n0 = c * rows, cols = std::min(rows, n - n0);
      dequantize_rows(q + n0 * k, scale + n0, cols, k, w);
      if (bias) fill_bias(y, bias, m, n, n0, cols);
      gemm_chunk(x, w, beta, y, m, n, k, n0, cols);
    }
  }
}

void many_rows(const float* x, const int8_t* q, const float* scale, const float* bias, float* y,
               int64_t m, int64_t n, int64_t k) {
  std::unique_ptr<float[]> w(new float[size_t(n * k)]);
  const int nt = threads_for(n * k, int64_t(1) << 15);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t r = 0; r < n; ++r) dequantize_rows(q + r * k, scale + r, 1, k, w.get() + r * k);
  if (bias) {
    const int bt = threads_for(m * n, int64_t(1) << 15);
#pragma omp parallel for num_threads(bt) schedule(static) if (bt > 1)
    for (int64_t r = 0; r < m; ++r) std::memcpy(y + r * n, bias, size_t(n) * sizeof(float));
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(m), blasint(n), blasint(k), 1.0f, x,
              blasint(k), w.get(), blasint(k), bias ? 1.0f : 0.0f, y, blasint(n));
}

}  // namespace

void linear_int8(const float* x, const int8_t* q, const float* scale, const float* bias, float* y,
                 int64_t m, int64_t n, int64_t k) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (int64_t r = 0; r < m; ++r) {
      if (bias) {
        std::memcpy(y + r * n, bias, size_t(n) * sizeof(float));
      } else {
        std::memset(y + r * n, 0, size_t(n) * sizeof(float));
      }
    }
    return;
  }
  if (m <= kFewRows) {
    few_rows(x, q, scale, bias, y, m, n, k);
  } else {
    many_rows(x, q, scale, bias, y, m, n, k);
  }
}

int8_t quantize_int8_value(float w, float scale) {
  if (scale == 0.0f) return 0;
  // nearbyint rounds in the current mode: to nearest, ties to even (the default).
  const float r = std::nearbyint(w / scale);
  return int8_t(std::clamp(r, -127.0f, 127.0f));
}

void quantize_int8_rows(const float* w, int64_t n, int64_t k, int8_t* q, float* scale) {
  for (int64_t r = 0; r < n; ++r) {
    const float* row = w + r * k;
    float max_abs = 0.0f;
    for (int64_t j = 0; j < k; ++j) max_abs = std::max(max_abs, std::fabs(row[j]));
    const float s = max_abs / 127.0f;
    scale[r] = s;
    for (int64_t j = 0; j < k; ++j) q[r * k + j] = quantize_int8_value(row[j], s);
  }
}

}  // namespace hark::backends::cpu
