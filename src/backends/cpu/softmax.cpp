// softmax: max, then exp and sum in one vector pass, then one scaling pass, all on a row that
// stays in L1/L2. The max is subtracted before exp, so no input can overflow.
#include "backends/cpu/kernels.h"
#include "backends/cpu/rows.h"
#include "backends/cpu/simd.h"
#include "backends/cpu/threads.h"

namespace hark::backends::cpu {

HARK_CPU_CLONES void softmax_row(float* x, int64_t n) {
  using simd::VecF;
  float mx = x[0];
#pragma omp simd reduction(max : mx)
  for (int64_t i = 0; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  const VecF shift = simd::splat(mx);
  VecF acc = simd::splat(0.0f);
  int64_t i = 0;
  for (; i + simd::kLanes <= n; i += simd::kLanes) {
    const VecF e = simd::exp(simd::load(x + i) - shift);
    simd::store(x + i, e);
    acc += e;
  }
  if (i < n) {
    // Lanes past the end load -inf and so add exp(-inf) = 0 to the sum.
    const VecF e = simd::exp(simd::load_partial(x + i, n - i, -__builtin_inff()) - shift);
    simd::store_partial(x + i, e, n - i);
    acc += e;
  }
  float sum = 0.0f;
  for (int l = 0; l < simd::kLanes; ++l) sum += acc[l];
  const float inv = 1.0f / sum;
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) x[j] *= inv;
}

void softmax(float* x, int64_t m, int64_t n) {
  if (n == 0) return;
  const int nt = threads_for(m * n, int64_t(1) << 14);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t r = 0; r < m; ++r) softmax_row(x + r * n, n);
}

}  // namespace hark::backends::cpu
