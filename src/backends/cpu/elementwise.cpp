// Elementwise kernels: single passes the compiler vectorises (GELU through simd.h), split into
// contiguous chunks across threads only when the tensor is big enough to repay the fork/join.
#include <omp.h>

#include "backends/cpu/kernels.h"
#include "backends/cpu/simd.h"
#include "backends/cpu/threads.h"

namespace hark::backends::cpu {

namespace {

constexpr int64_t kMinPerThread = int64_t(1) << 15;

HARK_CPU_CLONES void gelu_span(float* x, int64_t n) {
  using simd::VecF;
  int64_t i = 0;
  for (; i + simd::kLanes <= n; i += simd::kLanes) {
    const VecF v = simd::load(x + i);
    simd::store(x + i, v * simd::normal_cdf(v));
  }
  if (i < n) {
    const VecF v = simd::load_partial(x + i, n - i, 0.0f);
    simd::store_partial(x + i, v * simd::normal_cdf(v), n - i);
  }
}

// x and y may be the same array (x += x), never partially overlapping.
HARK_CPU_CLONES void add_span(float* x, const float* y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

// Calls fn(begin, end) on contiguous chunks covering [0, n), in parallel when n is large.
template <typename Fn>
void for_chunks(int64_t n, Fn&& fn) {
  const int nt = threads_for(n, kMinPerThread);
  if (nt == 1) return fn(int64_t(0), n);
#pragma omp parallel num_threads(nt)
  {
    const int64_t per = (n + omp_get_num_threads() - 1) / omp_get_num_threads();
    const int64_t begin = omp_get_thread_num() * per;
    const int64_t end = begin + per < n ? begin + per : n;
    if (begin < end) fn(begin, end);
  }
}

}  // namespace

void gelu(float* x, int64_t n) {
  for_chunks(n, [&](int64_t b, int64_t e) { gelu_span(x + b, e - b); });
}

void add(float* x, const float* y, int64_t n) {
  for_chunks(n, [&](int64_t b, int64_t e) { add_span(x + b, y + b, e - b); });
}

void add_rows(float* x, const float* row, int64_t m, int64_t d) {
  const int nt = threads_for(m * d, kMinPerThread);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t r = 0; r < m; ++r) add_span(x + r * d, row, d);
}

}  // namespace hark::backends::cpu
