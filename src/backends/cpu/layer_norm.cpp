// layer_norm (and add_layer_norm: the residual add first, row by row): two passes over each row for
// the mean and the variance, then one to write. The statistics and the centring are done in double:
// float sums over D = 1280 lose ~1e-5 relative when the row mean is large against its spread, and
// the extra cost is noise next to the GEMMs around every layer norm (a row is a few KiB and stays
// in L1).
#include <cmath>

#include "backends/cpu/kernels.h"
#include "backends/cpu/simd.h"
#include "backends/cpu/threads.h"

namespace hark::backends::cpu {

namespace {

template <int L>
HARK_INLINE void layer_norm_row_body(const float* x, const float* gamma, const float* beta,
                                     float eps, float* y, int64_t d) {
  double sum = 0.0;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < d; ++i) sum += double(x[i]);
  const double mean = sum / double(d);
  double sq = 0.0;
#pragma omp simd reduction(+ : sq)
  for (int64_t i = 0; i < d; ++i) {
    const double c = double(x[i]) - mean;
    sq += c * c;
  }
  const double rstd = 1.0 / std::sqrt(sq / double(d) + double(eps));
#pragma omp simd
  for (int64_t i = 0; i < d; ++i) y[i] = float((double(x[i]) - mean) * rstd) * gamma[i] + beta[i];
}

HARK_CPU_DISPATCH(layer_norm_row,
                  (const float* x, const float* gamma, const float* beta, float eps, float* y,
                   int64_t d),
                  (x, gamma, beta, eps, y, d))

template <int L>
HARK_INLINE void add_row_body(float* x, const float* h, const float* bias, int64_t d) {
  if (bias) {
#pragma omp simd
    for (int64_t i = 0; i < d; ++i) x[i] += h[i] + bias[i];
  } else {
#pragma omp simd
    for (int64_t i = 0; i < d; ++i) x[i] += h[i];
  }
}

HARK_CPU_DISPATCH(add_row, (float* x, const float* h, const float* bias, int64_t d),
                  (x, h, bias, d))

}  // namespace

void add_layer_norm(float* x, const float* h, const float* bias, const float* gamma,
                    const float* beta, float eps, float* y, int64_t m, int64_t d) {
  if (d == 0) return;
  const int nt = threads_for(m * d, int64_t(1) << 14);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t r = 0; r < m; ++r) {
    add_row(x + r * d, h + r * d, bias, d);  // the row stays in L1 for the norm's three passes
    layer_norm_row(x + r * d, gamma, beta, eps, y + r * d, d);
  }
}

void layer_norm(const float* x, const float* gamma, const float* beta, float eps, float* y,
                int64_t m, int64_t d) {
  if (d == 0) return;
  const int nt = threads_for(m * d, int64_t(1) << 14);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t r = 0; r < m; ++r) layer_norm_row(x + r * d, gamma, beta, eps, y + r * d, d);
}

}  // namespace hark::backends::cpu
